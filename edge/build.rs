//! Builds the viewer site into the binary when `MQCAM_SITE_DIR` names a built site
//! (`scripts/build.sh` sets it to `dist/` after Trunk has made it), so that one file
//! is all a camera host needs. Without it the binary carries no site and serves
//! `--site DIR` (default `dist`) from disk, as a development build always has: cargo
//! never has to build the wasm viewer to build the edge.
//!
//! Writes `$OUT_DIR/site.rs`: the files, sorted by name (looked up by binary search),
//! each with `include_bytes!`, so the bytes sit in the binary's read-only data and are
//! served from there without a copy.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=MQCAM_SITE_DIR");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("site.rs");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if let Some(dir) = env::var_os("MQCAM_SITE_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        // A directory's modification time changes when a file is added or removed (a
        // new build's hashed names), each file's when it is rewritten.
        println!("cargo:rerun-if-changed={}", dir.display());
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!("MQCAM_SITE_DIR={}: {e} (build the site first: scripts/build.sh)", dir.display())
        });
        for entry in entries {
            let entry = entry.expect("reading MQCAM_SITE_DIR");
            let name = entry.file_name().into_string().expect("site file names are UTF-8");
            let path = entry.path().canonicalize().expect("a site file's path");
            // Trunk's output is flat; dot files (an editor's, a `.stage` left over) are
            // never served (see `site::resolve`), so never carried either.
            if !path.is_file() || name.starts_with('.') {
                continue;
            }
            println!("cargo:rerun-if-changed={}", path.display());
            files.push((name, path));
        }
        assert!(
            files.iter().any(|(n, _)| n == "index.html"),
            "MQCAM_SITE_DIR={} has no index.html: build the site first (scripts/build.sh)",
            dir.display()
        );
        files.sort();
    }
    let mut code = String::from(
        "/// The viewer site built into the binary: (file name, bytes), sorted by name.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        code += &format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string());
    }
    code += "];\n";
    fs::write(&out, code).expect("writing the embedded site's index");
}
