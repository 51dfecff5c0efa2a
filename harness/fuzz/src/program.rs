//! The generated programs: a subject function whose body may delegate (`yield from`,
//! `await`) to inner objects, each bound to a global name, and the operations a case applies
//! to the subject. Everything here is plain data with proptest strategies that shrink toward
//! fewer statements, fewer inner objects and fewer operations, and a rendering as Python.

use std::fmt::Write as _;

use proptest::prelude::*;

/// The kind of one object of the program (spec/kinds.toml names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `def f(): … yield …`
    Generator,
    /// `async def f(): … await suspend(v) …`
    Coroutine,
    /// `@types.coroutine def f(): … yield …`, a generator with CO_ITERABLE_COROUTINE.
    IterableCoroutine,
    /// `async def f(): … yield …`
    AsyncGenerator,
}

impl Kind {
    /// The kind's name in spec/kinds.toml.
    pub fn spec_name(self) -> &'static str {
        match self {
            Kind::Generator => "generator",
            Kind::Coroutine => "coroutine",
            Kind::IterableCoroutine => "iterable_coroutine",
            Kind::AsyncGenerator => "async_generator",
        }
    }

    /// The first part of generated case ids, so that the deviation globs of hand-written
    /// cases (`generator.*`, `coroutine.*`) apply to generated ones.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::Generator | Kind::IterableCoroutine => "generator",
            Kind::Coroutine => "coroutine",
            Kind::AsyncGenerator => "async_generator",
        }
    }

    /// Parse a spec kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "generator" => Kind::Generator,
            "coroutine" => Kind::Coroutine,
            "iterable_coroutine" => Kind::IterableCoroutine,
            "async_generator" => Kind::AsyncGenerator,
            _ => return None,
        })
    }

    /// The kinds this kind may delegate to: `yield from` in a generator takes generators
    /// and generator-based coroutines; `await` takes coroutines and generator-based
    /// coroutines; a generator-based coroutine may `yield from` all three (PEP 492).
    pub fn inner_kinds(self) -> &'static [Kind] {
        match self {
            Kind::Generator => &[Kind::Generator, Kind::IterableCoroutine],
            Kind::Coroutine | Kind::AsyncGenerator => &[Kind::Coroutine, Kind::IterableCoroutine],
            Kind::IterableCoroutine => &[Kind::Generator, Kind::Coroutine, Kind::IterableCoroutine],
        }
    }

    /// Whether resuming is spelled `send(None)` rather than `next()` (coroutines have no
    /// `__next__`).
    pub fn is_native_coroutine(self) -> bool {
        self == Kind::Coroutine
    }
}

/// An exception type the model knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exc {
    /// `ValueError`.
    ValueError,
    /// `KeyError`.
    KeyError,
    /// `TypeError`.
    TypeError,
    /// `RuntimeError`.
    RuntimeError,
    /// `StopIteration`.
    StopIteration,
    /// `StopAsyncIteration`.
    StopAsyncIteration,
    /// `GeneratorExit`.
    GeneratorExit,
}

impl Exc {
    /// The Python name.
    pub fn name(self) -> &'static str {
        match self {
            Exc::ValueError => "ValueError",
            Exc::KeyError => "KeyError",
            Exc::TypeError => "TypeError",
            Exc::RuntimeError => "RuntimeError",
            Exc::StopIteration => "StopIteration",
            Exc::StopAsyncIteration => "StopAsyncIteration",
            Exc::GeneratorExit => "GeneratorExit",
        }
    }

    /// Parse a Python exception name.
    pub fn parse(s: &str) -> Option<Exc> {
        Some(match s {
            "ValueError" => Exc::ValueError,
            "KeyError" => Exc::KeyError,
            "TypeError" => Exc::TypeError,
            "RuntimeError" => Exc::RuntimeError,
            "StopIteration" => Exc::StopIteration,
            "StopAsyncIteration" => Exc::StopAsyncIteration,
            "GeneratorExit" => Exc::GeneratorExit,
            _ => return None,
        })
    }
}

/// The class named in an `except` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Catch {
    /// `except ValueError`.
    ValueError,
    /// `except LookupError` (catches KeyError).
    LookupError,
    /// `except Exception` (all but GeneratorExit).
    Exception,
    /// `except GeneratorExit`.
    GeneratorExit,
    /// `except BaseException`.
    BaseException,
}

impl Catch {
    /// The Python name.
    pub fn name(self) -> &'static str {
        match self {
            Catch::ValueError => "ValueError",
            Catch::LookupError => "LookupError",
            Catch::Exception => "Exception",
            Catch::GeneratorExit => "GeneratorExit",
            Catch::BaseException => "BaseException",
        }
    }

    /// Whether `except self:` catches `e` (the builtin hierarchy).
    pub fn catches(self, e: Exc) -> bool {
        match self {
            Catch::ValueError => e == Exc::ValueError,
            Catch::LookupError => e == Exc::KeyError,
            Catch::Exception => e != Exc::GeneratorExit,
            Catch::GeneratorExit => e == Exc::GeneratorExit,
            Catch::BaseException => true,
        }
    }
}

/// A value expression of the body language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Val {
    /// `None`.
    None,
    /// An int literal.
    Int(i64),
    /// `x`: the value the last suspension point received (`None` at first).
    Sent,
    /// `r`: the value the last delegation returned (`None` at first).
    Result,
}

impl Val {
    fn py(self) -> String {
        match self {
            Val::None => "None".into(),
            Val::Int(i) => i.to_string(),
            Val::Sent => "x".into(),
            Val::Result => "r".into(),
        }
    }
}

/// Which object a re-entrant operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReTarget {
    /// The subject (always running while any body of the program runs).
    Subject,
    /// The object whose body this is.
    Own,
}

/// A re-entrant operation made from inside a running body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReOp {
    /// `next(t)` (`t.send(None)` for a coroutine).
    Resume,
    /// `t.close()`.
    Close,
}

/// One statement of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// Give control to the driver with a value: `x = yield V` in generators and async
    /// generators, `x = await suspend(V)` in coroutines.
    Suspend(Val),
    /// `x = await suspend(V)` in an async generator: invisible to `asend()` driven to its end.
    Await(Val),
    /// `observe()`: a snapshot from inside the running body.
    Observe,
    /// `return V` (bare `return` for `None`).
    Return(Val),
    /// `raise E(n)`.
    Raise(Exc, i64),
    /// `try: BODY except CATCH: HANDLER`.
    Try {
        /// The `try` body.
        body: Vec<Stmt>,
        /// The class caught.
        catch: Catch,
        /// The `except` body.
        handler: Vec<Stmt>,
    },
    /// `r = yield from innerN` / `r = await innerN`, with innerN made by this function.
    Delegate(Box<Func>),
    /// A re-entrant operation: `next(subject)`, `inner2.close()`…
    Reenter(ReTarget, ReOp),
}

/// A function of the program and the body of the object it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Func {
    /// The kind of object the function makes.
    pub kind: Kind,
    /// Its body.
    pub body: Vec<Stmt>,
}

/// An operation applied to the subject by the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `next()` / `send(None)` / `asend(None)` driven to its end.
    Resume,
    /// `send(v)` / `asend(v)` with `v` not None.
    Send(i64),
    /// `throw(E(…))` / `athrow(E(…))`.
    Throw(Exc),
    /// `close()` / `aclose()`.
    Close,
}

/// An operation and the object it acts on: `on` is an index into [`Program::objects`], taken
/// modulo their number (so that shrinking the bodies never leaves an operation without an
/// object); 0 is the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Act {
    /// The object acted on (index into the objects, modulo their number).
    pub on: usize,
    /// The operation.
    pub op: Op,
}

impl Act {
    /// An operation on the subject.
    pub fn subject(op: Op) -> Act {
        Act { on: 0, op }
    }
}

/// A whole generated test: the subject's function (with its inner objects) and the
/// operations applied to the subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The subject's function; inner objects are made by the functions its body delegates to.
    pub subject: Func,
    /// The operations, in order.
    pub ops: Vec<Act>,
    /// A coroutine subject is driven through the iterator of `subject.__await__()` (bound
    /// to `aw`), whose send/throw/close/next act on the coroutine.
    pub via_await: bool,
    /// An async generator subject's asend() is driven step by step (`aw =
    /// subject.asend(V)`, then `aw.send(None)` per operation) instead of to its end.
    pub step_agen: bool,
}

/// One object of a program, in pre-order: the subject first, then each inner object.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    /// `subject`, `inner1`, `inner2`…
    pub name: String,
    /// `f0`, `f1`…: the function that makes it.
    pub func_name: String,
    /// Its function.
    pub func: &'a Func,
    /// The index of the object whose body delegates to this one.
    pub parent: Option<usize>,
}

impl Func {
    fn collect<'a>(&'a self, parent: Option<usize>, out: &mut Vec<Object<'a>>) {
        let me = out.len();
        out.push(Object {
            name: if me == 0 {
                "subject".into()
            } else {
                format!("inner{me}")
            },
            func_name: format!("f{me}"),
            func: self,
            parent,
        });
        fn walk<'a>(body: &'a [Stmt], me: usize, out: &mut Vec<Object<'a>>) {
            for s in body {
                match s {
                    Stmt::Delegate(f) => f.collect(Some(me), out),
                    Stmt::Try { body, handler, .. } => {
                        walk(body, me, out);
                        walk(handler, me, out);
                    }
                    _ => {}
                }
            }
        }
        walk(&self.body, me, out);
    }
}

impl Program {
    /// Every object, the subject first, then the inner objects in pre-order (the order in
    /// which their `Delegate` statements appear in the source).
    pub fn objects(&self) -> Vec<Object<'_>> {
        let mut out = Vec::new();
        self.subject.collect(None, &mut out);
        out
    }

    /// Whether the program needs Python 3.3 or newer (`yield from`, `return` with a value
    /// in a generator).
    pub fn needs_py3(&self) -> bool {
        fn any(body: &[Stmt]) -> bool {
            body.iter().any(|s| match s {
                Stmt::Delegate(_) => true,
                Stmt::Return(v) => *v != Val::None,
                Stmt::Try { body, handler, .. } => any(body) || any(handler),
                _ => false,
            })
        }
        self.objects().iter().any(|o| any(&o.func.body))
    }

    /// The program as Python source: the `suspend` helper, one function per object, and one
    /// global per inner object (`inner1 = f1()`). The subject is made by `f0()`.
    pub fn python(&self) -> String {
        let objects = self.objects();
        let mut s = String::new();
        let needs_types = objects.iter().any(|o| o.func.kind != Kind::Generator);
        if needs_types {
            s.push_str("import types\n\n@types.coroutine\ndef suspend(value=None):\n    return (yield value)\n\n");
        }
        let mut child = 0;
        for (i, o) in objects.iter().enumerate() {
            let header = match o.func.kind {
                Kind::Generator => format!("def {}():\n", o.func_name),
                Kind::IterableCoroutine => format!("@types.coroutine\ndef {}():\n", o.func_name),
                Kind::Coroutine | Kind::AsyncGenerator => format!("async def {}():\n", o.func_name),
            };
            s.push_str(&header);
            s.push_str("    x = r = None\n");
            // the names of this object's children, in order
            let children: Vec<usize> = (i + 1..objects.len())
                .filter(|j| objects[*j].parent == Some(i))
                .collect();
            let mut next_child = children.into_iter();
            let mut r = Render {
                objects: &objects,
                me: i,
                out: &mut s,
                children: &mut next_child,
            };
            // a function without a suspension point must still be a generator
            if o.func.kind != Kind::Coroutine && !r.has_yield(&o.func.body) {
                r.out.push_str("    if False:\n        yield\n");
                if !o.func.body.is_empty() {
                    r.body(&o.func.body, 1);
                }
            } else {
                r.body(&o.func.body, 1);
            }
            s.push('\n');
            child += 1;
        }
        let _ = child;
        for o in objects.iter().skip(1) {
            let _ = writeln!(s, "{} = {}()", o.name, o.func_name);
        }
        s
    }

    /// The number of statements and operations: the size proptest shrinks.
    pub fn size(&self) -> usize {
        fn count(body: &[Stmt]) -> usize {
            body.iter()
                .map(|s| match s {
                    Stmt::Try { body, handler, .. } => 1 + count(body) + count(handler),
                    Stmt::Delegate(f) => 1 + count(&f.body),
                    _ => 1,
                })
                .sum()
        }
        count(&self.subject.body) + self.ops.len()
    }
}

struct Render<'a, 'o, 'i> {
    objects: &'a [Object<'o>],
    me: usize,
    out: &'a mut String,
    children: &'i mut dyn Iterator<Item = usize>,
}

impl Render<'_, '_, '_> {
    fn has_yield(&self, body: &[Stmt]) -> bool {
        let kind = self.objects[self.me].func.kind;
        body.iter().any(|s| match s {
            Stmt::Suspend(_) => kind != Kind::Coroutine,
            Stmt::Delegate(_) => kind != Kind::Coroutine && kind != Kind::AsyncGenerator,
            Stmt::Try { body, handler, .. } => self.has_yield(body) || self.has_yield(handler),
            _ => false,
        })
    }

    fn body(&mut self, body: &[Stmt], depth: usize) {
        let pad = "    ".repeat(depth);
        if body.is_empty() {
            let _ = writeln!(self.out, "{pad}pass");
        }
        let kind = self.objects[self.me].func.kind;
        for s in body {
            match s {
                Stmt::Suspend(v) => match kind {
                    Kind::Coroutine => {
                        let _ = writeln!(self.out, "{pad}x = await suspend({})", v.py());
                    }
                    _ => {
                        let _ = writeln!(self.out, "{pad}x = yield {}", v.py());
                    }
                },
                Stmt::Await(v) => {
                    let _ = writeln!(self.out, "{pad}x = await suspend({})", v.py());
                }
                Stmt::Observe => {
                    let _ = writeln!(self.out, "{pad}observe()");
                }
                Stmt::Return(Val::None) => {
                    let _ = writeln!(self.out, "{pad}return");
                }
                // an async generator cannot return a value (PEP 525)
                Stmt::Return(_) if kind == Kind::AsyncGenerator => {
                    let _ = writeln!(self.out, "{pad}return");
                }
                Stmt::Return(v) => {
                    let _ = writeln!(self.out, "{pad}return {}", v.py());
                }
                Stmt::Raise(e, n) => {
                    let _ = writeln!(self.out, "{pad}raise {}({n})", e.name());
                }
                Stmt::Try {
                    body,
                    catch,
                    handler,
                } => {
                    let _ = writeln!(self.out, "{pad}try:");
                    self.body(body, depth + 1);
                    let _ = writeln!(self.out, "{pad}except {}:", catch.name());
                    self.body(handler, depth + 1);
                }
                Stmt::Delegate(_) => {
                    let child = self.children.next().expect("one object per Delegate");
                    let name = &self.objects[child].name;
                    match kind {
                        Kind::Coroutine | Kind::AsyncGenerator => {
                            let _ = writeln!(self.out, "{pad}r = await {name}");
                        }
                        _ => {
                            let _ = writeln!(self.out, "{pad}r = yield from {name}");
                        }
                    }
                }
                Stmt::Reenter(t, op) => {
                    let target = match t {
                        ReTarget::Subject => 0,
                        ReTarget::Own => self.me,
                    };
                    let o = &self.objects[target];
                    let line = match (op, o.func.kind) {
                        (ReOp::Close, Kind::AsyncGenerator) => {
                            format!("{}.aclose().send(None)", o.name)
                        }
                        (ReOp::Close, _) => format!("{}.close()", o.name),
                        (ReOp::Resume, Kind::Coroutine) => format!("{}.send(None)", o.name),
                        (ReOp::Resume, Kind::AsyncGenerator) => {
                            format!("{}.asend(None).send(None)", o.name)
                        }
                        (ReOp::Resume, _) => format!("next({})", o.name),
                    };
                    let _ = writeln!(self.out, "{pad}{line}");
                }
            }
        }
    }
}

impl Op {
    /// The case step for this operation on an object of `kind`: (`do`, `arg`).
    pub fn step(self, kind: Kind) -> (&'static str, Option<String>) {
        let agen = kind == Kind::AsyncGenerator;
        match self {
            Op::Resume if agen => ("asend", Some("None".into())),
            Op::Resume if kind.is_native_coroutine() => ("send", Some("None".into())),
            Op::Resume => ("next", None),
            Op::Send(v) => (if agen { "asend" } else { "send" }, Some(v.to_string())),
            Op::Throw(e) => (
                if agen { "athrow" } else { "throw" },
                Some(format!("{}('thrown')", e.name())),
            ),
            Op::Close => (if agen { "aclose" } else { "close" }, None),
        }
    }

    /// The operation as Python, on `name`.
    pub fn python(self, kind: Kind, name: &str) -> String {
        let (op, arg) = self.step(kind);
        match (op, arg) {
            ("next", _) => format!("next({name})"),
            (op, Some(a)) => format!("{name}.{op}({a})"),
            (op, None) => format!("{name}.{op}()"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// What to generate.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The subject kinds to draw from.
    pub kinds: Vec<Kind>,
    /// Operations per case, at most.
    pub max_ops: usize,
    /// Statements per body, at most.
    pub max_stmts: usize,
    /// Delegation depth, at most.
    pub max_depth: u32,
    /// Inner objects per program, at most.
    pub max_inner: usize,
    /// Operations may act on inner objects directly (not only through the subject).
    pub inner_ops: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            kinds: vec![
                Kind::Generator,
                Kind::Coroutine,
                Kind::IterableCoroutine,
                Kind::AsyncGenerator,
            ],
            max_ops: 24,
            max_stmts: 5,
            max_depth: 2,
            max_inner: 3,
            inner_ops: true,
        }
    }
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        3 => (1i64..100).prop_map(Val::Int),
        1 => Just(Val::None),
        1 => Just(Val::Sent),
        1 => Just(Val::Result),
    ]
}

fn raised() -> impl Strategy<Value = Exc> {
    prop_oneof![
        Just(Exc::ValueError),
        Just(Exc::KeyError),
        Just(Exc::TypeError)
    ]
}

fn catch() -> impl Strategy<Value = Catch> {
    prop_oneof![
        Just(Catch::ValueError),
        Just(Catch::LookupError),
        Just(Catch::Exception),
        Just(Catch::GeneratorExit),
        Just(Catch::BaseException),
    ]
}

fn stmt(kind: Kind, depth: u32, nest: u32, max_stmts: usize) -> BoxedStrategy<Stmt> {
    let mut options: Vec<(u32, BoxedStrategy<Stmt>)> = vec![
        (5, val().prop_map(Stmt::Suspend).boxed()),
        (1, Just(Stmt::Observe).boxed()),
        (1, val().prop_map(Stmt::Return).boxed()),
        (
            1,
            (raised(), 1i64..10)
                .prop_map(|(e, n)| Stmt::Raise(e, n))
                .boxed(),
        ),
        (
            1,
            (
                prop_oneof![Just(ReTarget::Subject), Just(ReTarget::Own)],
                prop_oneof![Just(ReOp::Resume), Just(ReOp::Close)],
            )
                .prop_map(|(t, o)| Stmt::Reenter(t, o))
                .boxed(),
        ),
    ];
    if kind == Kind::AsyncGenerator {
        options.push((2, val().prop_map(Stmt::Await).boxed()));
    }
    if nest > 0 {
        let b = body(kind, depth, nest - 1, max_stmts);
        options.push((
            3,
            (b.clone(), catch(), b)
                .prop_map(|(body, catch, handler)| Stmt::Try {
                    body,
                    catch,
                    handler,
                })
                .boxed(),
        ));
    }
    if depth > 0 {
        // one prebuilt strategy per inner kind: nothing is built while generating
        let inner: Vec<BoxedStrategy<Func>> = kind
            .inner_kinds()
            .iter()
            .map(|k| {
                let k = *k;
                body(k, depth - 1, 1, max_stmts.min(3))
                    .prop_map(move |b| Func { kind: k, body: b })
                    .boxed()
            })
            .collect();
        let f = proptest::strategy::Union::new(inner).prop_map(|f| Stmt::Delegate(Box::new(f)));
        options.push((1, f.boxed()));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

fn body(kind: Kind, depth: u32, nest: u32, max_stmts: usize) -> BoxedStrategy<Vec<Stmt>> {
    prop::collection::vec(stmt(kind, depth, nest, max_stmts), 0..=max_stmts).boxed()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::Resume),
        2 => (1i64..100).prop_map(Op::Send),
        2 => prop_oneof![Just(Exc::ValueError), Just(Exc::KeyError), Just(Exc::GeneratorExit)].prop_map(Op::Throw),
        2 => Just(Op::Close),
    ]
}

fn act(inner_ops: bool) -> BoxedStrategy<Act> {
    if inner_ops {
        (prop_oneof![4 => Just(0usize), 1 => 1usize..4], op())
            .prop_map(|(on, op)| Act { on, op })
            .boxed()
    } else {
        op().prop_map(Act::subject).boxed()
    }
}

/// The strategy of whole programs of a shape.
pub fn programs(shape: &Shape) -> BoxedStrategy<Program> {
    let inner_ops = shape.inner_ops;
    let (depth, stmts, max_ops, max_inner) = (
        shape.max_depth,
        shape.max_stmts,
        shape.max_ops,
        shape.max_inner,
    );
    let per_kind: Vec<BoxedStrategy<Program>> = shape
        .kinds
        .iter()
        .map(|k| {
            let k = *k;
            // coroutines: through __await__(); async generators: asend() step by step
            let via_await: BoxedStrategy<bool> =
                if matches!(k, Kind::Coroutine | Kind::AsyncGenerator) && inner_ops {
                    prop_oneof![3 => Just(false), 1 => Just(true)].boxed()
                } else {
                    Just(false).boxed()
                };
            (
                body(k, depth, 2, stmts),
                prop::collection::vec(act(inner_ops), 1..=max_ops),
                via_await,
            )
                .prop_map(move |(b, ops, via_await)| Program {
                    subject: Func { kind: k, body: b },
                    ops,
                    via_await: via_await && k == Kind::Coroutine,
                    step_agen: via_await && k == Kind::AsyncGenerator,
                })
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(per_kind)
        .prop_filter("too many inner objects", move |p| {
            p.objects().len() <= max_inner + 1
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_delegating_program() {
        let p = Program {
            subject: Func {
                kind: Kind::Coroutine,
                body: vec![
                    Stmt::Suspend(Val::Int(1)),
                    Stmt::Try {
                        body: vec![Stmt::Delegate(Box::new(Func {
                            kind: Kind::IterableCoroutine,
                            body: vec![Stmt::Suspend(Val::Sent)],
                        }))],
                        catch: Catch::GeneratorExit,
                        handler: vec![Stmt::Return(Val::Result)],
                    },
                    Stmt::Reenter(ReTarget::Own, ReOp::Resume),
                ],
            },
            ops: vec![Act::subject(Op::Resume)],
            via_await: false,
            step_agen: false,
        };
        let py = p.python();
        assert!(py.contains("async def f0():\n    x = r = None\n    x = await suspend(1)\n    try:\n        r = await inner1\n    except GeneratorExit:\n        return r\n    subject.send(None)\n"), "{py}");
        assert!(
            py.contains("@types.coroutine\ndef f1():\n    x = r = None\n    x = yield x\n"),
            "{py}"
        );
        assert!(py.ends_with("inner1 = f1()\n"), "{py}");
        assert!(p.needs_py3());
    }
}
