//! `edge`: parse options (flags, `EDGE_*` variables, `--config` file), set up logging,
//! run until Ctrl-C or SIGTERM.

use edge::config::file::{self as config_file, LoadError};

fn main() {
    let config = match config_file::load(std::env::args_os()) {
        Ok(config) => config,
        // Clap prints the usage (or --help, --version) and picks the status.
        Err(LoadError::Flags(e)) => e.exit(),
        Err(e @ LoadError::File(_)) => fail(&e.to_string()),
    };
    edge::clock::set_skew_ms(config.clock_skew_ms);
    if config.list_devices {
        print!("{}", edge::list_devices());
        return;
    }
    if config.command == Some(edge::config::Command::Login) {
        match edge::login::run(&config) {
            Ok(text) => print!("{text}"),
            Err(e) => fail(&e.to_string()),
        }
        return;
    }
    edge::logging::init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => fail(&format!("cannot start the async runtime: {e}")),
    };
    if let Err(e) = runtime.block_on(edge::run(config, shutdown_signal())) {
        fail(&e.to_string());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("edge: error: {message}");
    std::process::exit(2);
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
