//! The `vidstream` binary: everything lives in the library; errors end here.

fn main() -> anyhow::Result<()> {
    vidstream::cli::run()
}
