use clap::Parser;

fn main() {
    let cli = sectune::cli::Cli::parse();
    if let Err(err) = sectune::cli::run(cli) {
        eprintln!("error: {}", sectune::cli::error_line(&err));
        std::process::exit(1);
    }
}
