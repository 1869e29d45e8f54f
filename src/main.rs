use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = devdb::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(devdb::commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            if let Some(devdb::commands::ExitCode(code)) = err.downcast_ref() {
                return std::process::ExitCode::from(*code);
            }
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
