//! A plain Rust binary: dynamically linked against glibc (libc.so.6, libgcc_s.so.1 as needed),
//! so kiln resolves its libraries and loader into the image.

fn main() {
    println!("hello from rust");
}
