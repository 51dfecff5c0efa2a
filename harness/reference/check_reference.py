"""Checks of async_introspection on the running interpreter, run by `cargo test`
(harness/cli/tests/reference_checks.rs) on every CPython 3.9+ found, with the module the
harness built for it.

Usage: python check_reference.py MODULE_DIR [COMPILED_SAMPLES_DIR]

COMPILED_SAMPLES_DIR (by hand only): a directory where samples/ were compiled with Cython
and mypyc, whose real compiled objects are then checked too.

Exercises every state of every kind (RUNNING observed from inside the body), every
accessor, every wrapper object, compiled look-alikes, then install() and the attributes it
adds. Prints one line per failed check and a closing 'N passed, N failed' line; exits 1 on
any failure.
"""
import asyncio
import functools
import gc
import inspect
import sys
import types

sys.path.insert(0, sys.argv[1])
import async_introspection as ai  # noqa: E402

VERSION = "%d.%d" % sys.version_info[:2]
PASSED = 0
FAILED = []


def check(name, cond, detail=""):
    global PASSED
    if cond:
        PASSED += 1
    else:
        FAILED.append("%s%s" % (name, (": " + detail) if detail else ""))


def raises(name, exc, fn, *args, **kw):
    """Check that fn(*args) raises exc; return the exception (or None)."""
    try:
        got = fn(*args)
    except exc as e:
        check(name, True)
        text = kw.get("contains")
        if text is not None:
            check(name + " message", text in str(e), str(e))
        return e
    except Exception as e:  # pragma: no cover - reported
        check(name, False, "raised %r" % (e,))
        return None
    check(name, False, "returned %r" % (got,))
    return None


C, R, S, X = ai.ASYNC_CREATED, ai.ASYNC_RUNNING, ai.ASYNC_SUSPENDED, ai.ASYNC_CLOSED
check("constants", (C, R, S, X) == ("ASYNC_CREATED", "ASYNC_RUNNING", "ASYNC_SUSPENDED", "ASYNC_CLOSED"))


def stdlib_state(obj):
    """The state by the stdlib's own per-kind function, mapped onto ASYNC_*."""
    if isinstance(obj, types.GeneratorType):
        s = inspect.getgeneratorstate(obj)
    elif isinstance(obj, types.CoroutineType):
        s = inspect.getcoroutinestate(obj)
    elif hasattr(inspect, "getasyncgenstate"):  # 3.12+
        s = inspect.getasyncgenstate(obj)
    else:
        return None
    return "ASYNC_" + s.split("_", 1)[1]


ATTR = {
    types.GeneratorType: ("gi_code", "gi_frame", "gi_running", "gi_yieldfrom"),
    types.CoroutineType: ("cr_code", "cr_frame", "cr_running", "cr_await"),
    types.AsyncGeneratorType: ("ag_code", "ag_frame", "ag_running", "ag_await"),
}


def accessors(label, obj, subject, state, delegate=None, returns_to=None):
    """Check every accessor on obj (a subject or a wrapper of subject)."""
    code, frame, running, dele = ATTR[type(subject)]
    got = ai.getasyncstate(obj)
    check("%s state" % label, got == state, "got %s want %s" % (got, state))
    if obj is subject:
        want = stdlib_state(subject)
        if want is not None:
            check("%s state agrees with inspect" % label, got == want, "got %s, inspect %s" % (got, want))
    check("%s getcode" % label, ai.getcode(obj) is getattr(subject, code))
    check("%s getframe" % label, ai.getframe(obj) is getattr(subject, frame))
    check("%s isrunning" % label, ai.isrunning(obj) is getattr(subject, running))
    check("%s getdelegate" % label, ai.getdelegate(obj) is getattr(subject, dele))
    if delegate is not None:
        check("%s getdelegate is expected" % label, ai.getdelegate(obj) is delegate)
    rt = ai.getreturnsto(obj)
    check("%s getreturnsto" % label, rt is returns_to, "got %r want %r" % (rt, returns_to))
    check("%s unwrap" % label, ai.unwrap(obj) is subject)


@types.coroutine
def sleep0():
    """A types.coroutine generator (CO_ITERABLE_COROUTINE): one bare yield."""
    yield


def drive(coro):
    """Run a coroutine to completion by sending None."""
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value


# ---------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------

def section_generator():
    seen = {}

    def gen():
        me = box[0]
        seen["state"] = ai.getasyncstate(me)
        seen["running"] = ai.isrunning(me)
        seen["frame"] = ai.getframe(me) is sys._getframe()
        seen["code"] = ai.getcode(me) is sys._getframe().f_code
        seen["returns_to"] = ai.getreturnsto(me)
        yield 1
        yield 2

    box = [gen()]
    g = box[0]
    accessors("generator created", g, g, C)
    next(g)
    check("generator running state (inside)", seen["state"] == R, seen["state"])
    check("generator running isrunning (inside)", seen["running"] is True)
    check("generator running getframe (inside)", seen["frame"])
    check("generator running getcode (inside)", seen["code"])
    check("generator running getreturnsto (inside, next())", seen["returns_to"] is None)
    accessors("generator suspended", g, g, S)
    g.close()
    accessors("generator closed", g, g, X)
    g2 = gen()
    box[0] = g2
    for _ in g2:
        pass
    accessors("generator exhausted", g2, g2, X)

    # yield from: the doubly linked list
    inner_seen = {}

    def inner():
        me = ibox[0]
        inner_seen["returns_to"] = ai.getreturnsto(me)
        inner_seen["outer_delegate"] = ai.getdelegate(obox[0])
        yield "i"
        return "r"

    def outer():
        yield from ibox[0]
        yield "o"

    ibox = [inner()]
    obox = [outer()]
    o, i = obox[0], ibox[0]
    check("yield from: next", next(o) == "i")
    check("yield from: inner running getreturnsto is outer", inner_seen["returns_to"] is o, repr(inner_seen["returns_to"]))
    accessors("yield from outer", o, o, S, delegate=i, returns_to=None)
    accessors("yield from inner", i, i, S, delegate=None, returns_to=o)
    next(o)
    accessors("yield from inner done", i, i, X, returns_to=None)
    accessors("yield from outer resumed", o, o, S, returns_to=None)
    o.close()

    # types.coroutine on a generator function: a generator with CO_ITERABLE_COROUTINE
    s0 = sleep0()
    check("types.coroutine generator flag", bool(s0.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE))
    accessors("types.coroutine generator created", s0, s0, C)
    next(s0)
    accessors("types.coroutine generator suspended", s0, s0, S)
    s0.close()
    accessors("types.coroutine generator closed", s0, s0, X)

    # types._GeneratorWrapper: types.coroutine on a callable that is not a plain function
    def plain():
        yield "w"

    w = types.coroutine(functools.partial(plain))()
    check("_GeneratorWrapper made", type(w).__name__ == "_GeneratorWrapper", type(w).__name__)
    wrapped = w._GeneratorWrapper__wrapped
    accessors("_GeneratorWrapper created", w, wrapped, C)
    w.send(None)
    accessors("_GeneratorWrapper suspended", w, wrapped, S)
    w.close()
    accessors("_GeneratorWrapper closed", w, wrapped, X)


# ---------------------------------------------------------------------------------------
# Coroutines
# ---------------------------------------------------------------------------------------

def section_coroutine():
    seen = {}

    async def leaf():
        me = lbox[0]
        seen["leaf_state"] = ai.getasyncstate(me)
        seen["leaf_returns_to"] = ai.getreturnsto(me)
        await sleep0()
        return 5

    async def coro():
        me = cbox[0]
        seen["state"] = ai.getasyncstate(me)
        seen["running"] = ai.isrunning(me)
        seen["frame"] = ai.getframe(me) is sys._getframe()
        return await lbox[0]

    lbox = [leaf()]
    cbox = [coro()]
    c, lf = cbox[0], lbox[0]
    accessors("coroutine created", c, c, C)
    c.send(None)
    check("coroutine running state (inside)", seen["state"] == R, seen["state"])
    check("coroutine running isrunning (inside)", seen["running"] is True)
    check("coroutine running getframe (inside)", seen["frame"])
    check("coroutine awaited running getreturnsto (inside)", seen["leaf_returns_to"] is c, repr(seen["leaf_returns_to"]))
    check("coroutine awaited running state (inside)", seen["leaf_state"] == R)
    s0 = lf.cr_await
    check("coroutine chain: leaf awaits sleep0 generator", type(s0) is types.GeneratorType)
    accessors("coroutine suspended", c, c, S, delegate=lf, returns_to=None)
    accessors("coroutine awaited", lf, lf, S, delegate=s0, returns_to=c)
    accessors("coroutine chain: sleep0 generator", s0, s0, S, returns_to=lf)
    try:
        c.send(None)
    except StopIteration as e:
        check("coroutine result", e.value == 5)
    accessors("coroutine closed", c, c, X)
    accessors("coroutine awaited closed", lf, lf, X)

    # coroutine.__await__() -> coroutine_wrapper, delegated to by `yield from`
    async def target():
        await sleep0()

    t = target()
    cw = t.__await__()
    check("coroutine_wrapper type", type(cw).__name__ == "coroutine_wrapper", type(cw).__name__)
    accessors("coroutine_wrapper created", cw, t, C)

    @types.coroutine
    def via_wrapper():
        yield from cw

    vw = via_wrapper()
    vw.send(None)
    accessors("coroutine_wrapper suspended", cw, t, S, returns_to=vw)
    accessors("coroutine behind coroutine_wrapper", t, t, S, returns_to=vw)
    accessors("generator delegating to coroutine_wrapper", vw, vw, S, delegate=cw)
    vw.close()
    accessors("coroutine_wrapper closed", cw, t, X)

    # closing a never-started coroutine
    c3 = coro()
    c3.close()
    accessors("coroutine closed unstarted", c3, c3, X)


# ---------------------------------------------------------------------------------------
# Async generators
# ---------------------------------------------------------------------------------------

def section_async_generator():
    seen = {}

    async def agen():
        me = abox[0]
        seen["state"] = ai.getasyncstate(me)
        seen["running"] = ai.isrunning(me)
        seen["frame"] = ai.getframe(me) is sys._getframe()
        seen["returns_to"] = ai.getreturnsto(me)
        await sleep0()
        yield 1
        yield 2

    abox = [agen()]
    a = abox[0]
    accessors("async generator created", a, a, C)

    async def consumer():
        return await aw_box[0]

    aw_box = [a.asend(None)]
    aw = aw_box[0]
    check("asend type", type(aw).__name__ == "async_generator_asend", type(aw).__name__)
    accessors("asend awaitable before start", aw, a, C)
    cons = consumer()
    cons.send(None)  # agen runs to the await sleep0() and suspends there
    check("async generator running state (inside)", seen["state"] == R, seen["state"])
    check("async generator running isrunning (inside)", seen["running"] is True)
    check("async generator running getframe (inside)", seen["frame"])
    check("async generator running getreturnsto (inside)", seen["returns_to"] is cons, repr(seen["returns_to"]))
    s0 = a.ag_await
    check("async generator awaits sleep0", type(s0) is types.GeneratorType)
    # ag_running stays true while an asend() is in flight (even with the frame suspended
    # in an await): the stdlib's getasyncgenstate (3.12+) reports AGEN_RUNNING too.
    accessors("async generator awaiting inside asend", a, a, R, delegate=s0, returns_to=cons)
    accessors("asend awaitable in flight", aw, a, R, returns_to=cons)
    accessors("consumer awaiting asend", cons, cons, S, delegate=aw)
    accessors("sleep0 under async generator", s0, s0, S, returns_to=a)
    try:
        cons.send(None)
    except StopIteration as e:
        check("asend result", e.value == 1)
    accessors("async generator suspended", a, a, S)
    accessors("asend awaitable finished", aw, a, S)
    th = a.athrow(ValueError("x"))
    check("athrow type", type(th).__name__ == "async_generator_athrow", type(th).__name__)
    accessors("athrow awaitable", th, a, S)
    cl = a.aclose()
    check("aclose type", type(cl).__name__ == "async_generator_athrow", type(cl).__name__)
    accessors("aclose awaitable", cl, a, S)
    drive(cl)
    accessors("async generator closed", a, a, X)
    accessors("aclose awaitable after close", cl, a, X)
    accessors("athrow awaitable after close", th, a, X)
    th.close()  # never started; closing it keeps 3.13 from warning it was never awaited

    # exhaust one
    async def short():
        yield 1

    sh = short()
    try:
        sh.asend(None).send(None)
    except StopIteration:
        pass
    try:
        sh.asend(None).send(None)
    except StopAsyncIteration:
        pass
    accessors("async generator exhausted", sh, sh, X)

    # cell and free variables put instructions before RETURN_GENERATOR on 3.11+: the
    # created/suspended rule must not depend on f_lasti being 0 (3.11 has no ag_suspended)
    def make():
        free = 1

        async def cells():
            cell = free

            def use():
                return cell

            yield use()
        return cells

    ce = make()()
    accessors("async generator with cells created", ce, ce, C)
    try:
        ce.asend(None).send(None)
    except StopIteration:
        pass
    accessors("async generator with cells suspended", ce, ce, S)
    drive(ce.aclose())
    accessors("async generator with cells closed", ce, ce, X)


# ---------------------------------------------------------------------------------------
# asyncio.Task
# ---------------------------------------------------------------------------------------

def section_task():
    seen = {}

    async def worker(ev):
        t = asyncio.current_task()
        seen["inside"] = ai.getasyncstate(t)
        seen["inside_frame"] = ai.getframe(t) is sys._getframe()
        await ev.wait()
        return 7

    async def main():
        ev = asyncio.Event()
        t = asyncio.ensure_future(worker(ev))
        check("task before first step", ai.getasyncstate(t) == C, ai.getasyncstate(t))
        await asyncio.sleep(0)
        coro = t.get_coro()
        check("task suspended state", ai.getasyncstate(t) == S, ai.getasyncstate(t))
        check("task getframe", ai.getframe(t) is coro.cr_frame)
        check("task getcode", ai.getcode(t) is coro.cr_code)
        check("task isrunning", ai.isrunning(t) is False)
        check("task getdelegate", ai.getdelegate(t) is coro.cr_await)
        check("task unwrap", ai.unwrap(t) is coro)
        ev.set()
        await t
        check("task done state", ai.getasyncstate(t) == X, ai.getasyncstate(t))
        check("task done frame", ai.getframe(t) is None)
        if hasattr(asyncio, "eager_task_factory"):  # 3.12+
            async def quick():
                return 1

            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            et = asyncio.ensure_future(quick())
            loop.set_task_factory(None)
            await et
            check("eager task finished state", ai.getasyncstate(et) == X, ai.getasyncstate(et))
            check("eager task finished frame", ai.getframe(et) is None)

    asyncio.run(main())
    check("task running state (inside)", seen.get("inside") == R, repr(seen.get("inside")))
    check("task running getframe (inside)", seen.get("inside_frame") is True)


# ---------------------------------------------------------------------------------------
# Compiled look-alikes and non-async objects
# ---------------------------------------------------------------------------------------

def section_foreign():
    for bad in (1, None, "x", [], lambda: None, iter([1]), asyncio.Future):
        for fn in (ai.getasyncstate, ai.getcode, ai.getframe, ai.isrunning, ai.getdelegate, ai.getreturnsto):
            raises("%s(%s) TypeError" % (fn.__name__, type(bad).__name__), TypeError, fn, bad,
                   contains="is not an asynchronous operation")

    # A stand-in for a compiled generator exposing gi_* attributes of its own.
    def real():
        yield 1

    class CompiledGen:
        def __init__(self):
            self._g = real()

        gi_code = property(lambda self: self._g.gi_code)
        gi_frame = property(lambda self: self._g.gi_frame)
        gi_running = property(lambda self: self._g.gi_running)
        gi_yieldfrom = property(lambda self: self._g.gi_yieldfrom)
        gi_suspended = property(lambda self: getattr(self._g, "gi_suspended", self._g.gi_frame is not None and self._g.gi_frame.f_lasti != -1 and not self._g.gi_running))

    cg = CompiledGen()
    check("foreign generator created", ai.getasyncstate(cg) == C, ai.getasyncstate(cg))
    next(cg._g)
    check("foreign generator suspended", ai.getasyncstate(cg) == S)
    check("foreign generator getframe", ai.getframe(cg) is cg._g.gi_frame)
    check("foreign generator unwrap", ai.unwrap(cg) is cg)
    cg._g.close()
    check("foreign generator closed", ai.getasyncstate(cg) == X)

    # A stand-in for a mypyc-compiled generator class.
    class gen_gen:
        def __next__(self):
            raise StopIteration

        def send(self, v):
            raise StopIteration

        def __mypyc_generator_helper__(self):
            pass

    raises("mypyc-like TypeError", TypeError, ai.getasyncstate, gen_gen(), contains="mypyc")


def section_compiled(path):
    """Real Cython / mypyc modules compiled by hand from samples/ (optional)."""
    if not path:
        return
    sys.path.insert(0, path)
    try:
        import introspec_cy_sample as cy
    except ImportError:
        cy = None
    try:
        import introspec_mypyc_sample as my
    except ImportError:
        my = None
    if cy is not None:
        g = cy.gen()
        check("cython generator running (inside)", cy.run_and_observe(ai) == R)
        raises("cython generator created: ambiguous", TypeError, ai.getasyncstate, g, contains="Cython")
        check("cython generator getcode", ai.getcode(g) is g.gi_code)
        check("cython generator isrunning", ai.isrunning(g) is False)
        next(g)
        check("cython generator getdelegate", ai.getdelegate(g) is None)
        g.close()
        check("cython generator closed", ai.getasyncstate(g) == X, ai.getasyncstate(g))
        o = cy.outer()
        next(o)
        i = o.gi_yieldfrom
        check("cython yield from: getdelegate", ai.getdelegate(o) is i and i is not None)
        check("cython yield from: getreturnsto", ai.getreturnsto(i) is o)
        o.close()
        c = cy.coro()
        check("cython coroutine getframe", ai.getframe(c) is c.cr_frame)
        cw = c.__await__()
        check("cython coroutine_wrapper unwrap", ai.unwrap(cw) is c)
        drive(c)
        check("cython coroutine closed", ai.getasyncstate(c) == X)
        a = cy.agen()
        aw = a.asend(None)
        check("cython asend unwrap", ai.unwrap(aw) is a)
        aw.close()
    else:
        print("note: no Cython sample for %s" % VERSION)
    if my is not None:
        for f in (my.gen, my.coro):
            obj = f()
            raises("mypyc %s TypeError" % f.__name__, TypeError, ai.getasyncstate, obj, contains="mypyc")
            raises("mypyc %s getframe TypeError" % f.__name__, TypeError, ai.getframe, obj, contains="mypyc")
            if hasattr(obj, "close"):
                obj.close()
    else:
        print("note: no mypyc sample for %s" % VERSION)


# ---------------------------------------------------------------------------------------
# install()
# ---------------------------------------------------------------------------------------

def section_install():
    def gen():
        yield box[0].__running__
        yield box[0].__frame__ is sys._getframe()

    box = [gen()]

    def probe(o):
        return hasattr(o, "__frame__")

    # warm up attribute access (3.11+ specialises it) before install()
    pre = [probe(box[0]) for _ in range(200)]
    check("no __frame__ before install", not any(pre))
    check("no inspect.getasyncstate before install", not hasattr(inspect, "getasyncstate"))

    report = ai.install()
    check("install complete", report["complete"] is True, repr(report["failed"]))
    for kind in ("generator", "coroutine", "async_generator"):
        for attr in ("__code__", "__frame__", "__running__", "__delegated_to__", "__returns_to__"):
            check("install reports %s.%s" % (kind, attr), "%s.%s" % (kind, attr) in report["installed"])
    again = ai.install()
    check("install idempotent: nothing new", again["newly_installed"] == [], repr(again["newly_installed"]))
    check("install idempotent: same installed", sorted(again["installed"]) == sorted(report["installed"]))
    check("install idempotent: complete", again["complete"] is True)
    check("warmed-up access sees __frame__ after install", probe(box[0]))
    check("inspect.getasyncstate", inspect.getasyncstate is ai.getasyncstate)
    for name in ("ASYNC_CREATED", "ASYNC_RUNNING", "ASYNC_SUSPENDED", "ASYNC_CLOSED"):
        check("inspect.%s" % name, getattr(inspect, name, None) == name)
        # a constant has no __module__: support.check__all__ (test_inspect) expects it in
        # inspect.__all__ (which 3.11 added)
        if hasattr(inspect, "__all__"):
            check("inspect.__all__ has %s" % name, inspect.__all__.count(name) == 1)
    if hasattr(inspect, "__all__"):
        check("inspect.__all__ leaves getasyncstate out (its __module__ is not inspect)",
              "getasyncstate" not in inspect.__all__)

    def native(label, o, pre):
        check(label + " __code__", o.__code__ is getattr(o, pre + "_code"))
        check(label + " __frame__", o.__frame__ is getattr(o, pre + "_frame"))
        check(label + " __running__", o.__running__ is getattr(o, pre + "_running"))
        d = {"gi": "gi_yieldfrom", "cr": "cr_await", "ag": "ag_await"}[pre]
        check(label + " __delegated_to__", o.__delegated_to__ is getattr(o, d))
        check(label + " __returns_to__", o.__returns_to__ is ai.getreturnsto(o))
        check(label + " inspect.getasyncstate", inspect.getasyncstate(o) == ai.getasyncstate(o))

    g = box[0]
    native("installed generator created", g, "gi")
    check("installed generator __running__ (inside)", next(g) is True)
    check("installed generator __frame__ (inside)", next(g) is True)
    native("installed generator suspended", g, "gi")
    g.close()
    native("installed generator closed", g, "gi")

    def inner():
        yield 1

    def outer():
        yield from ib[0]

    ib = [inner()]
    o = outer()
    next(o)
    check("installed __delegated_to__ chain", o.__delegated_to__ is ib[0])
    check("installed __returns_to__ chain", ib[0].__returns_to__ is o)
    check("installed __returns_to__ head", o.__returns_to__ is None)
    o.close()

    async def c():
        await sleep0()

    co = c()
    native("installed coroutine created", co, "cr")
    co.send(None)
    native("installed coroutine suspended", co, "cr")
    check("installed coroutine chain", co.__delegated_to__.__returns_to__ is co)
    co.close()
    native("installed coroutine closed", co, "cr")

    async def ag():
        await sleep0()
        yield 1

    a = ag()
    native("installed async generator created", a, "ag")
    aw = a.asend(None)
    aw.send(None)
    native("installed async generator awaiting", a, "ag")
    aw.close()
    a2 = ag()
    drive(a2.aclose())
    native("installed async generator closed", a2, "ag")

    w = types._GeneratorWrapper(gen())
    check("installed _GeneratorWrapper __frame__", w.__frame__ is w.gi_frame)
    check("installed _GeneratorWrapper __code__", w.__code__ is w.gi_code)

    odd = types._GeneratorWrapper(iter([]))
    check("installed attribute on a non-operation: hasattr is False", not hasattr(odd, "__frame__"))
    raises("installed attribute on a non-operation: AttributeError", AttributeError, getattr, odd, "__frame__")
    raises("installed __frame__ is read-only", AttributeError, setattr, g, "__frame__", None)
    raises("installed __frame__ cannot be deleted", AttributeError, delattr, g, "__frame__")
    check("descriptor on the class", type(types.GeneratorType.__dict__["__frame__"]).__name__ == "async_attribute")
    check("generator type still refuses setattr", raises("builtin setattr refused", TypeError, setattr, types.GeneratorType, "x", 1) is not None)


def main():
    compiled = sys.argv[2] if len(sys.argv) > 2 else None
    for section in (section_generator, section_coroutine, section_async_generator, section_task,
                    section_foreign, lambda: section_compiled(compiled), section_install):
        try:
            section()
        except Exception as e:  # a crash in a section is a failure, not an abort
            import traceback
            traceback.print_exc()
            FAILED.append("%s crashed: %r" % (getattr(section, "__name__", "section"), e))
    gc.collect()
    for f in FAILED:
        print("FAIL [%s] %s" % (VERSION, f))
    print("%s: %d passed, %d failed" % ("py" + VERSION, PASSED, len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
