use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = jitgate::cli::Cli::parse();
    match jitgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jitgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
