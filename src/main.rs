fn main() {
    std::process::exit(dsctl::run());
}
