//! `--config FILE`: the edge's options in TOML, under the flags' own names, and one
//! `[[camera]]` table per camera:
//!
//! ```toml
//! topic_prefix = "home"
//! http_port = 8080
//!
//! [[camera]]
//! name = "door"
//! source = "/dev/video0"
//! size = "1280x720"
//!
//! [[camera]]
//! name = "yard"
//! source = "http://admin:secret@192.168.1.20/video.mjpg"
//! fps = 10
//! ```
//!
//! Each option goes through the same parser as its flag, so a value means the same in
//! both places; a mistake names the file, the line and the key. What the command line
//! or an `EDGE_*` variable sets wins over the file, and `--camera` flags replace its
//! cameras.

use std::{collections::BTreeMap, ffi::OsString, path::Path};

use clap::{parser::ValueSource, ArgAction, CommandFactory, FromArgMatches};
use toml::{Spanned, Value};

use crate::config::{CameraArg, CameraSpec, Config};

/// Why the options could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A bad flag (or `--help`): clap prints it and picks the exit status.
    #[error(transparent)]
    Flags(#[from] clap::Error),
    /// A bad config file: `FILE:LINE: key: what is wrong`.
    #[error("{0}")]
    File(String),
}

/// Flags that make no sense in a file.
const NOT_IN_FILE: [&str; 5] = ["config", "camera", "list-devices", "help", "version"];

/// Parses the command line (`args`, program name first) and the `--config` file it names.
pub fn load(args: impl IntoIterator<Item = OsString>) -> Result<Config, LoadError> {
    let args: Vec<OsString> = args.into_iter().collect();
    let command = Config::command();
    let matches = command.clone().try_get_matches_from(&args)?;
    let mut config = Config::from_arg_matches(&matches)?;
    let Some(path) = config.config.clone() else { return Ok(config) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| LoadError::File(format!("cannot read config file {}: {e}", path.display())))?;
    let file = parse(&text).map_err(|e| LoadError::File(format!("{}:{e}", path.display())))?;

    // The file's options become flags in front of the command line's, except those the
    // command line or the environment already set.
    let mut from_file: Vec<OsString> = Vec::new();
    for option in &file.options {
        let at = |what: String| {
            LoadError::File(format!("{}:{}: {}: {what}", path.display(), option.line, option.key))
        };
        let long = option.key.replace('_', "-");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && !NOT_IN_FILE.contains(&long.as_str()))
            .ok_or_else(|| at("unknown option (the names are the flags', see --help)".into()))?;
        if matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = matches!(arg.get_action(), ArgAction::SetTrue);
        let words = option.words(&long, flag).map_err(at)?;
        // Alone first, so a bad value is reported at its line.
        let mut alone = vec![OsString::from("edge")];
        alone.extend(words.iter().cloned());
        if let Err(e) = command.clone().try_get_matches_from(&alone) {
            use clap::error::ErrorKind::*;
            if matches!(
                e.kind(),
                InvalidValue | ValueValidation | InvalidUtf8 | TooManyValues | WrongNumberOfValues
            ) {
                return Err(at(first_line(&e)));
            }
        }
        from_file.extend(words);
    }
    let mut all = vec![args.first().cloned().unwrap_or_else(|| "edge".into())];
    all.extend(from_file);
    all.extend(args.into_iter().skip(1));
    let matches = command.try_get_matches_from(&all)?;
    let cameras_given = !config.camera.is_empty();
    let own = std::mem::take(&mut config.camera);
    config = Config::from_arg_matches(&matches)?;
    config.camera = if cameras_given { own } else { file.cameras.into_iter().map(CameraArg::Spec).collect() };
    Ok(config)
}

/// Clap's message without its "error: " and its usage lines.
fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// One top-level `key = value` of the file.
#[derive(Debug)]
struct FileOption {
    key: String,
    value: Value,
    line: usize,
}

impl FileOption {
    /// The command-line words for it: `--fps 15`, `--no-login`, an array repeated.
    fn words(&self, long: &str, flag: bool) -> Result<Vec<OsString>, String> {
        let flagged = |v: &str| vec![OsString::from(format!("--{long}")), OsString::from(v)];
        match (&self.value, flag) {
            (Value::Boolean(true), true) => Ok(vec![OsString::from(format!("--{long}"))]),
            (Value::Boolean(false), true) => Ok(Vec::new()),
            (_, true) => Err("expected true or false".into()),
            (Value::Array(items), false) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(flagged(&scalar(item)?));
                }
                Ok(out)
            }
            (v, false) => Ok(flagged(&scalar(v)?)),
        }
    }
}

fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        Value::Datetime(d) => Ok(d.to_string()),
        Value::Array(_) | Value::Table(_) => Err("expected a single value".into()),
    }
}

/// What a config file holds.
#[derive(Debug)]
struct File {
    options: Vec<FileOption>,
    cameras: Vec<CameraSpec>,
}

#[derive(serde::Deserialize)]
struct Cameras {
    #[serde(default)]
    camera: Vec<Spanned<BTreeMap<String, Spanned<Value>>>>,
}

/// Reads the file's text; an error starts with the line: `LINE: key: what`.
fn parse(text: &str) -> Result<File, String> {
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let syntax = |e: toml::de::Error| {
        let at = e.span().map_or(1, |s| line(s.start));
        format!("{at}: {}", e.message())
    };
    let top: BTreeMap<String, Spanned<Value>> = toml::from_str(text).map_err(syntax)?;
    let mut options = Vec::new();
    for (key, value) in top {
        if key == "camera" {
            continue;
        }
        let at = line(value.span().start);
        if let Value::Table(_) = value.get_ref() {
            return Err(format!("{at}: {key}: unknown section (the only one is [[camera]])"));
        }
        options.push(FileOption { key, value: value.into_inner(), line: at });
    }
    options.sort_by_key(|o| o.line);
    let cameras: Cameras = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(1, |s| line(s.start));
        format!("{at}: camera: {} (write each camera as a [[camera]] table)", e.message())
    })?;
    let mut specs = Vec::new();
    for table in cameras.camera {
        let table_line = line(table.span().start);
        let mut fields = table.into_inner();
        let mut take = |k: &str| -> Result<Option<(String, usize)>, String> {
            let Some(v) = fields.remove(k) else { return Ok(None) };
            let at = line(v.span().start);
            Ok(Some((scalar(v.get_ref()).map_err(|e| format!("{at}: {k}: {e}"))?, at)))
        };
        let (name, name_line) =
            take("name")?.ok_or_else(|| format!("{table_line}: camera: a [[camera]] needs a name"))?;
        let (source, source_line) =
            take("source")?.ok_or_else(|| format!("{table_line}: camera {name}: needs a source"))?;
        let mut spec = CameraSpec::new(&name, "pattern").map_err(|e| format!("{name_line}: name: {e}"))?;
        spec.source = source.parse().map_err(|e| format!("{source_line}: source: {e}"))?;
        for (key, value) in fields {
            let at = line(value.span().start);
            // A list (`renditions = ["full", "half"]`) reads as its comma-separated form.
            let text = match value.get_ref() {
                Value::Array(items) => {
                    items.iter().map(scalar).collect::<Result<Vec<_>, _>>().map(|v| v.join(","))
                }
                v => scalar(v),
            };
            let text = text.map_err(|e| format!("{at}: {key}: {e}"))?;
            spec.set(&key, &text).map_err(|e| format!("{at}: {key}: {e}"))?;
        }
        specs.push(spec);
    }
    Ok(File { options, cameras: specs })
}

/// [`load`] for a file alone (tests and tools): the options a file gives.
pub fn load_file(path: &Path, args: &[&str]) -> Result<Config, LoadError> {
    let mut all: Vec<OsString> = vec!["edge".into(), "--config".into(), path.into()];
    all.extend(args.iter().map(OsString::from));
    load(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceSpec;

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(text)
    }

    /// A file in the temp directory, removed when dropped.
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(text: &str) -> TempPath {
                use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "edge-config-{}-{}.toml",
                    std::process::id(),
                    N.fetch_add(1, Relaxed)
                ));
                std::fs::write(&p, text).unwrap();
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn err(text: &str, args: &[&str]) -> String {
        let f = write(text);
        let e = load_file(&f.0, args).unwrap_err().to_string();
        let name = f.0.display().to_string();
        assert!(e.starts_with(&name), "names the file: {e}");
        e[name.len()..].to_string()
    }

    const TWO: &str = r#"
topic_prefix = "home"
fps = 15
no_login = true
allow_origin = ["https://a.example", "https://b.example"]

[[camera]]
name = "door"
source = "pattern"
size = "320x240"

[[camera]]
name = "yard"
source = "http://admin:pw@10.0.0.9/video"
fps = 5
"#;

    #[test]
    fn a_file_gives_options_and_cameras() {
        let f = write(TWO);
        let c = load_file(&f.0, &[]).unwrap();
        assert_eq!((c.topic_prefix.as_str(), c.fps, c.no_login, c.allow_origin.len()), ("home", 15, true, 2));
        let cams = c.cameras().unwrap();
        assert_eq!(cams.len(), 2);
        assert_eq!((cams[0].name.as_str(), cams[0].size.width, cams[0].fps), ("door", 320, 15));
        assert_eq!(cams[1].source, SourceSpec::HttpMjpeg("http://admin:pw@10.0.0.9/video".into()));
        assert_eq!(cams[1].fps, 5);
    }

    #[test]
    fn flags_win_over_the_file_and_camera_flags_replace_its_cameras() {
        let f = write(TWO);
        let c = load_file(&f.0, &["--fps", "30", "--topic-prefix", "x"]).unwrap();
        assert_eq!((c.fps, c.topic_prefix.as_str()), (30, "x"));
        assert_eq!(c.cameras().unwrap().len(), 2);
        let c = load_file(&f.0, &["--camera", "solo=pattern"]).unwrap();
        assert_eq!(c.cameras().unwrap().iter().map(|c| c.name.clone()).collect::<Vec<_>>(), ["solo"]);
    }

    #[test]
    fn a_bad_value_names_its_line_and_key() {
        assert_eq!(
            err("\n\nfps = 1000\n", &[]),
            ":3: fps: invalid value '1000' for '--fps <FPS>': 1000 is not in 0..=240"
        );
        let e = err("quality = \"best\"\n", &[]);
        assert!(e.starts_with(":1: quality: invalid value 'best'"), "{e}");
        let e = err("no_login = \"yes\"\n", &[]);
        assert_eq!(e, ":1: no_login: expected true or false");
    }

    #[test]
    fn unknown_keys_and_sections_are_refused() {
        assert!(err("zoom = 2\n", &[]).starts_with(":1: zoom: unknown option"));
        assert!(err("list_devices = true\n", &[]).starts_with(":1: list_devices: unknown option"));
        assert!(err("fps = 3\n[server]\nport = 1\n", &[]).starts_with(":2: server: unknown section"));
    }

    #[test]
    fn camera_tables_are_checked_key_by_key() {
        let e = err("[[camera]]\nname = \"a\"\nsource = \"pattern\"\nfps = 900\n", &[]);
        assert!(e.starts_with(":4: fps: fps must be"), "{e}");
        let e = err("[[camera]]\nname = \"a\"\nsource = \"pattern\"\nzoom = 2\n", &[]);
        assert!(e.starts_with(":4: zoom: unknown camera option"), "{e}");
        let e = err("[[camera]]\nname = \"a\"\n", &[]);
        assert!(e.starts_with(":1: camera a: needs a source"), "{e}");
        let e = err("[[camera]]\nsource = \"pattern\"\n", &[]);
        assert!(e.starts_with(":1: camera: a [[camera]] needs a name"), "{e}");
        let e = err("[[camera]]\nname = \"a\"\nsource = \"nowhere-at-all\"\n", &[]);
        assert!(e.starts_with(":3: source: unknown source"), "{e}");
        let e = err("camera = 3\n", &[]);
        assert!(e.starts_with(":1: camera:"), "{e}");
    }

    #[test]
    fn renditions_are_a_list_or_a_string_in_a_file() {
        use wire::ack::Rendition::*;
        let f = write(
            "renditions = \"full,quarter\"\n[[camera]]\nname = \"a\"\nsource = \"pattern\"\nrenditions = [\"full\", \"half\"]\n\n[[camera]]\nname = \"b\"\nsource = \"pattern\"\n",
        );
        let cams = load_file(&f.0, &[]).unwrap().cameras().unwrap();
        assert_eq!(cams[0].renditions.all(), [Full, Half]);
        assert_eq!(cams[1].renditions.all(), [Full, Quarter], "the file's edge-wide value");
        let e = err("[[camera]]\nname = \"a\"\nsource = \"pattern\"\nrenditions = [\"half\"]\n", &[]);
        assert!(e.starts_with(":4: renditions: renditions must include full"), "{e}");
        let e = err("renditions = \"full,big\"\n", &[]);
        assert!(e.starts_with(":1: renditions: invalid value"), "{e}");
    }

    #[test]
    fn brokers_are_a_list_or_a_string_in_a_file() {
        let f = write(
            "broker = [\"mqtt://a:1883\", \"mqtt://b:1883\"]\nviewer_broker = \"ws://a/ws,ws://b/ws\"\n",
        );
        let c = load_file(&f.0, &[]).unwrap();
        let shown: Vec<String> = c.broker.iter().map(|b| b.to_string()).collect();
        assert_eq!(shown, ["mqtt://a:1883", "mqtt://b:1883"]);
        assert_eq!(c.viewer_broker.len(), 2);
        let f = write("broker = \"mqtt://a:1883\"\n");
        assert_eq!(load_file(&f.0, &[]).unwrap().broker.len(), 1);
        // The command line's list replaces the file's, as for any option.
        let f = write("broker = [\"mqtt://a:1883\", \"mqtt://b:1883\"]\n");
        let c = load_file(&f.0, &["--broker", "mqtt://c:1883"]).unwrap();
        assert_eq!(c.broker.iter().map(|b| b.to_string()).collect::<Vec<_>>(), ["mqtt://c:1883"]);
        let e = err("broker = [\"mqtt://a:1883\", \"b:1883\"]\n", &[]);
        assert!(e.starts_with(":1: broker:") && e.contains("needs a scheme"), "{e}");
    }

    #[test]
    fn broken_toml_names_its_line() {
        let e = err("fps = 15\nquality = \n", &[]);
        assert!(e.starts_with(":2: "), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = load_file(Path::new("/nonexistent/edge.toml"), &[]).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/edge.toml"), "{e}");
    }

    #[test]
    fn passwords_in_camera_urls_stay_out_of_errors() {
        let e = err("[[camera]]\nname = \"a\"\nsource = \"https://u:hunter2@cam/v\"\n", &[]);
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn motion_settings_come_from_the_file_for_all_or_per_camera() {
        let f = write(
            "motion = true\nmotion_hold = 2\nmotion_zone = [\"0,0,0.5,1\"]\nha_discovery = true\n\
             [[camera]]\nname = \"a\"\nsource = \"pattern\"\nmotion_ignore = [\"0,0,0.1,0.1\", \"0.9,0.9,0.1,0.1\"]\n\n\
             [[camera]]\nname = \"b\"\nsource = \"pattern\"\nmotion = false\n",
        );
        let c = load_file(&f.0, &[]).unwrap();
        assert!(c.ha_discovery);
        let cams = c.cameras().unwrap();
        let a = cams[0].motion.as_ref().expect("motion for all");
        assert_eq!((a.hold.as_secs(), a.zones.len(), a.ignore.len()), (2, 1, 2));
        assert_eq!(cams[1].motion, None, "turned off for b");
        let e = err("motion_sensitivity = 0\n", &[]);
        assert!(e.starts_with(":1: motion_sensitivity: invalid value '0'"), "{e}");
        let e = err("[[camera]]\nname = \"a\"\nsource = \"pattern\"\nmotion_zone = [\"0,0,2,1\"]\n", &[]);
        assert!(e.starts_with(":4: motion_zone: zone"), "{e}");
    }
}
