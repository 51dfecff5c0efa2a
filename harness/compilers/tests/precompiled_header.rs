//! A unit compiled with a precompiled header gives the same object as without it (the
//! Cython builds rely on it: the header is a cache of gcc's work, never a change of code).

use std::path::Path;

use introspec_compilers::gcc::{compile_all, precompile, Unit};
use introspec_compilers::{BuildOptions, Compiler};

const PRELUDE: &str = "#define WIDTH 3\n#include <stdio.h>\n#include <stdlib.h>\n";
const UNIT: &str = "#ifndef WIDTH\n#define WIDTH 3\n#endif\n#include <stdio.h>\n\
int twice(int x) { return x * 2 * WIDTH; }\n\
void hello(void) { printf(\"%d\\n\", twice(WIDTH)); }\n";

fn object(dir: &Path, flags: Vec<String>) -> Vec<u8> {
    let unit = Unit {
        source: dir.join("unit.c"),
        flags,
        extra_key: vec![],
    };
    let objects = dir.join("objects");
    let out = compile_all(
        &BuildOptions::default(),
        Compiler::Cython,
        &[unit],
        &objects,
        "test",
        &|_| {},
    );
    let obj = out.into_iter().next().unwrap().expect("the unit compiles");
    std::fs::read(obj).unwrap()
}

#[test]
fn an_object_is_the_same_with_and_without_the_precompiled_header() {
    let dir = std::env::temp_dir().join(format!("introspec-pch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("unit.c"), UNIT).unwrap();
    let flags = vec!["-O0".to_string(), "-g0".to_string()];
    let plain = object(&dir, flags.clone());
    let objects = dir.join("objects");
    let make_header = || {
        precompile(
            &BuildOptions::default(),
            Compiler::Cython,
            PRELUDE,
            &flags,
            &objects,
            "test",
        )
    };
    let uses = make_header().expect("gcc makes the precompiled header");
    let header = Path::new(&uses[1]);
    assert!(
        header.with_extension("h.gch").is_file(),
        "no .gch beside {}",
        header.display()
    );
    let mut with = flags.clone();
    with.extend(uses.iter().cloned());
    let precompiled = object(&dir, with.clone());
    assert!(plain == precompiled, "the objects differ");
    // asked again, the header comes from the cache, and a header gcc cannot use (here: made
    // for other options) is read as text: the same object, only slower
    assert_eq!(make_header().as_ref(), Some(&uses));
    let mut other = vec!["-O2".to_string(), "-g0".to_string()];
    other.extend(uses.iter().cloned());
    let _ = object(&dir, other);
    std::fs::remove_dir_all(&dir).unwrap();
}
