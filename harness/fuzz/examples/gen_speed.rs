use introspec_fuzz::{Campaign, Model, Settings};
use introspec_runner::Project;
use proptest::strategy::ValueTree;
use std::path::Path;
use std::time::Instant;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let project = Project::load(&root).unwrap();
    let model = Model::new(&project.spec, None).unwrap();
    let c = Campaign::new(
        &project.spec,
        &project.corpus,
        model.clone(),
        vec![],
        Settings::default(),
    );
    let t0 = Instant::now();
    let trees: Vec<_> = (0..2000).map(|i| c.tree(i).unwrap()).collect();
    let t1 = t0.elapsed();
    let progs: Vec<_> = trees.iter().map(|t| t.current()).collect();
    let t2 = t0.elapsed();
    let mut n = 0;
    for p in &progs {
        n += model.predict(&project.spec, p).transitions;
    }
    let t3 = t0.elapsed();
    runner_cost();
    reject_rate();
    println!(
        "trees {:?}, current {:?}, predict {:?}; {n} transitions",
        t1,
        t2 - t1,
        t3 - t2
    );
}

#[allow(dead_code)]
fn runner_cost() {
    use proptest::strategy::Strategy;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let cfg = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let t0 = Instant::now();
    for i in 0..2000u64 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&i.to_le_bytes());
        let mut r =
            TestRunner::new_with_rng(cfg.clone(), TestRng::from_seed(RngAlgorithm::ChaCha, &b));
        let _ = (0..10i32).new_tree(&mut r);
    }
    println!("2000 runners + trivial tree {:?}", t0.elapsed());
}

#[allow(dead_code)]
fn reject_rate() {
    use introspec_fuzz::program::{programs, Shape};
    use proptest::strategy::Strategy;
    use proptest::test_runner::{Config, TestRunner};
    let mut shape = Shape::default();
    shape.max_inner = 100;
    let s = programs(&shape);
    let mut r = TestRunner::new(Config::default());
    let mut big = 0;
    let mut sizes = 0;
    let t0 = Instant::now();
    for _ in 0..2000 {
        let p = s.new_tree(&mut r).unwrap().current();
        if p.objects().len() > 4 {
            big += 1
        }
        sizes += p.size();
    }
    println!(
        "unfiltered: {big}/2000 would be rejected, mean size {}, {:?}",
        sizes / 2000,
        t0.elapsed()
    );
}
