"""The baseline of `introspec bench fuzz`: a Hypothesis RuleBasedStateMachine doing the checks
harness/fuzz does, on the same operations, in the interpreter under test.

The same program shapes as harness/fuzz/src/program.rs (bodies that suspend, observe(), return,
raise, try/except, delegate to inner objects with `yield from`/`await`, re-enter themselves),
the same operations on the subject (resume, send(v), throw(E), close()), the same model
(the transitions of spec/states.toml, given by the harness as JSON, and the same body
interpreter as harness/fuzz/src/model.rs), and the same checks: after each operation, and at
each observe() inside a body, every object's state and its state's invariants (and the
delegate of a suspended object) read through every spelling the column has (today's
attributes and the inspect functions), and the operation's outcome.

Usage: python hypothesis_machine.py SPEC.json SECONDS
Prints one JSON line: {"transitions": N, "checked": N, "seconds": S, "cpu": S, "examples": N, "hypothesis": V}.
"""

import importlib
import json
import sys
import time

import hypothesis
from hypothesis import settings, HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

SPEC = json.load(open(sys.argv[1]))
SECONDS = float(sys.argv[2])
SHAPE = SPEC["shape"]
MISSING = object()

# ---------------------------------------------------------------------------------------------
# Programs (as in program.rs): a statement is a tuple.
#   ("suspend", val) ("observe",) ("return", val) ("raise", exc, n)
#   ("try", body, catch, handler) ("delegate", func) ("reenter", target, op)
# A func is (kind, body); kinds: generator, coroutine, iterable_coroutine.

INNER = {
    "generator": ["generator", "iterable_coroutine"],
    "coroutine": ["coroutine", "iterable_coroutine"],
    "iterable_coroutine": ["generator", "coroutine", "iterable_coroutine"],
}
CATCHES = {
    "ValueError": lambda e: e == "ValueError",
    "LookupError": lambda e: e == "KeyError",
    "Exception": lambda e: e != "GeneratorExit",
    "GeneratorExit": lambda e: e == "GeneratorExit",
    "BaseException": lambda e: True,
}

vals = st.one_of(
    st.integers(1, 99).map(lambda i: ("int", i)),
    st.just(("none",)),
    st.just(("sent",)),
    st.just(("result",)),
)


def stmts(kind, depth, nest):
    options = [
        vals.map(lambda v: ("suspend", v)),
        st.just(("observe",)),
        vals.map(lambda v: ("return", v)),
        st.tuples(st.sampled_from(["ValueError", "KeyError", "TypeError"]), st.integers(1, 9)).map(lambda t: ("raise", t[0], t[1])),
        st.tuples(st.sampled_from(["subject", "own"]), st.sampled_from(["resume", "close"])).map(lambda t: ("reenter", t[0], t[1])),
    ]
    if nest > 0:
        b = body(kind, depth, nest - 1)
        options.append(st.tuples(b, st.sampled_from(sorted(CATCHES)), b).map(lambda t: ("try", t[0], t[1], t[2])))
    if depth > 0:
        options.append(
            st.sampled_from(INNER[kind]).flatmap(lambda k: body(k, depth - 1, 1).map(lambda b: ("delegate", (k, b))))
        )
    return st.one_of(options)


def body(kind, depth, nest):
    return st.lists(stmts(kind, depth, nest), max_size=SHAPE["max_stmts"])


def objects_of(func):
    """Pre-order: [(name, func, parent)]."""
    out = []

    def collect(f, parent):
        me = len(out)
        out.append(("subject" if me == 0 else "inner%d" % me, f, parent))

        def walk(b):
            for s in b:
                if s[0] == "delegate":
                    collect(s[1], me)
                elif s[0] == "try":
                    walk(s[1])
                    walk(s[3])

        walk(f[1])

    collect(func, None)
    return out


def py_val(v):
    return {"int": lambda: str(v[1]), "none": lambda: "None", "sent": lambda: "x", "result": lambda: "r"}[v[0]]()


def render(objs):
    lines = ["import types", "@types.coroutine", "def suspend(value=None):", "    return (yield value)"]
    for i, (name, (kind, b), parent) in enumerate(objs):
        children = iter([j for j in range(i + 1, len(objs)) if objs[j][2] == i])
        if kind == "iterable_coroutine":
            lines.append("@types.coroutine")
        lines.append(("async def f%d():" if kind == "coroutine" else "def f%d():") % i)
        lines.append("    x = r = None")
        if kind != "coroutine":
            lines.append("    if False:")
            lines.append("        yield")

        def emit(b, pad):
            if not b:
                lines.append(pad + "pass")
            for s in b:
                t = s[0]
                if t == "suspend":
                    lines.append(pad + ("x = await suspend(%s)" if kind == "coroutine" else "x = yield %s") % py_val(s[1]))
                elif t == "observe":
                    lines.append(pad + "observe()")
                elif t == "return":
                    lines.append(pad + ("return" if s[1][0] == "none" else "return " + py_val(s[1])))
                elif t == "raise":
                    lines.append(pad + "raise %s(%d)" % (s[1], s[2]))
                elif t == "try":
                    lines.append(pad + "try:")
                    emit(s[1], pad + "    ")
                    lines.append(pad + "except %s:" % s[2])
                    emit(s[3], pad + "    ")
                elif t == "delegate":
                    child = objs[next(children)][0]
                    lines.append(pad + ("r = await %s" if kind == "coroutine" else "r = yield from %s") % child)
                elif t == "reenter":
                    target = objs[0] if s[1] == "subject" else objs[i]
                    if s[2] == "close":
                        lines.append(pad + "%s.close()" % target[0])
                    elif target[1][0] == "coroutine":
                        lines.append(pad + "%s.send(None)" % target[0])
                    else:
                        lines.append(pad + "next(%s)" % target[0])

        emit(b, "    ")
    for i, (name, f, parent) in enumerate(objs[1:], 1):
        lines.append("%s = f%d()" % (name, i))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The model (as in model.rs), from the transitions of spec/states.toml.

def transition(op, frm, kind):
    general = None
    for t in SPEC["transitions"]:
        if t["op"] == op and t["from"] == frm:
            if kind in t["kinds"]:
                return t
            if not t["kinds"] and general is None:
                general = t
    return general


class Unpredictable(Exception):
    pass


class Obj(object):
    def __init__(self, name, kind, code):
        self.name, self.kind, self.code = name, kind, code
        self.state, self.pc, self.blocks, self.x, self.r, self.delegating = "created", 0, [], None, None, None


def compile_body(objs, i):
    code = []
    children = iter([j for j in range(i + 1, len(objs)) if objs[j][2] == i])

    def emit(b):
        for s in b:
            t = s[0]
            if t == "try":
                at = len(code)
                code.append(None)
                emit(s[1])
                code.append(("pop",))
                jump = len(code)
                code.append(None)
                handler = len(code)
                emit(s[3])
                code[at] = ("setup", s[2], handler)
                code[jump] = ("jump", len(code))
            elif t == "delegate":
                code.append(("delegate", next(children)))
            elif t == "reenter":
                code.append(("reenter", 0 if s[1] == "subject" else i, s[2]))
            else:
                code.append(s)

    emit(objs[i][1][1])
    return code


class Model(object):
    def __init__(self, objs):
        self.objs = [Obj(name, f[0], compile_body(objs, i)) for i, (name, f, p) in enumerate(objs)]
        self.inside = []

    def expect_all(self):
        out = []
        for o in self.objs:
            delegate = None
            if o.state == "suspended":
                if o.delegating is not None:
                    delegate = ("is", self.objs[o.delegating].name)
                elif o.kind == "coroutine":
                    delegate = ("type", "generator")
                else:
                    delegate = ("none",)
            out.append((o.name, o.kind, o.state, delegate))
        return out

    def eval(self, o, v):
        return {"int": lambda: v[1], "none": lambda: None, "sent": lambda: self.objs[o].x, "result": lambda: self.objs[o].r}[v[0]]()

    def find(self, o, op):
        kind, state = self.objs[o].kind, self.objs[o].state
        if op[0] == "send_value":
            return transition("send_value", state, kind) or transition("resume", state, kind)
        return transition(op[0], state, kind)

    def set_state(self, o, s):
        self.objs[o].state = s
        if s in ("created", "closed"):
            self.objs[o].delegating = None

    def apply(self, o, op):
        """op: ("resume",) ("send_value", v) ("throw", exc) ("close",). Returns ("ret", v) ("any",) ("raise", exc, value)."""
        t = self.find(o, op)
        if t is None:
            raise Unpredictable()
        if not t["body"]:
            self.set_state(o, t["to"])
            r = t["raises"]
            if r is None:
                return ("ret", None)
            if r == "thrown":
                return ("raise", op[1], None)
            return ("raise", r, None)
        finish = t["finish"] or t["to"]
        inp = {"resume": ("send", None), "send_value": ("send", op[-1]), "throw": ("throw", op[-1]), "close": ("throw", "GeneratorExit")}[op[0]]
        ex = self.run(o, inp)
        if ex[0] == "yield":
            if op[0] == "close":
                self.set_state(o, "suspended")
                return ("raise", "RuntimeError", None)
            self.set_state(o, t["to"])
            return ("ret", ex[1])
        self.set_state(o, finish)
        if ex[0] == "return":
            if op[0] == "close":
                return ("ret", None) if ex[1] is None else ("any",)
            return ("raise", "StopIteration", ex[1])
        if op[0] == "close" and ex[1] == "GeneratorExit":
            return ("ret", None)
        return ("raise", ex[1], None)

    def delegation(self, o, r):
        if r[0] == "ret":
            return ("yield", r[1])
        if r[0] == "any":
            return ("yield", None)
        self.objs[o].delegating = None
        if r[1] == "StopIteration":
            self.objs[o].r = r[2]
            return None
        return ("raise", r[1])

    def run(self, o, inp):
        ob = self.objs[o]
        was = ob.state
        ob.state = "running"
        pending = None
        if was == "created":
            if inp[0] == "throw":
                pending = inp[1]
        elif ob.delegating is not None:
            c = ob.delegating
            if inp[0] == "send":
                r = self.apply(c, ("resume",) if inp[1] is None else ("send_value", inp[1]))
            elif inp[1] == "GeneratorExit":
                r = self.apply(c, ("close",))
                r = r if r[0] == "raise" else ("raise", "GeneratorExit", None)
            else:
                r = self.apply(c, ("throw", inp[1]))
            d = self.delegation(o, r)
            if d is not None:
                if d[0] == "yield":
                    return d
                pending = d[1]
        elif inp[0] == "send":
            ob.x = inp[1]
        else:
            pending = inp[1]
        while True:
            if pending is not None:
                e, pending = pending, None
                while True:
                    if not ob.blocks:
                        return ("raise", e)
                    catch, handler = ob.blocks.pop()
                    if CATCHES[catch](e):
                        ob.pc = handler
                        break
            if ob.pc >= len(ob.code):
                return ("return", None)
            ins = ob.code[ob.pc]
            ob.pc += 1
            t = ins[0]
            if t == "suspend":
                return ("yield", self.eval(o, ins[1]))
            elif t == "observe":
                self.inside.append(self.expect_all())
            elif t == "return":
                return ("return", self.eval(o, ins[1]))
            elif t == "raise":
                pending = ins[1]
            elif t == "setup":
                ob.blocks.append((ins[1], ins[2]))
            elif t == "pop":
                ob.blocks.pop()
            elif t == "jump":
                ob.pc = ins[1]
            elif t == "delegate":
                ob.delegating = ins[1]
                d = self.delegation(o, self.apply(ins[1], ("resume",)))
                if d is not None:
                    if d[0] == "yield":
                        return d
                    pending = d[1]
            elif t == "reenter":
                r = self.apply(ins[1], ("close",) if ins[2] == "close" else ("resume",))
                if r[0] == "raise":
                    pending = r[1]


# ---------------------------------------------------------------------------------------------
# Reading the observables, as the observers do (harness/PROTOCOL.md, "Reads").

_funcs = {}


def lookup(name):
    if name not in _funcs:
        mod, _, fn = name.rpartition(".")
        try:
            _funcs[name] = getattr(importlib.import_module(mod) if mod else __builtins__, fn, MISSING)
        except ImportError:
            _funcs[name] = MISSING
    return _funcs[name]


def read(obj, path):
    cur = obj
    for i, seg in enumerate(path):
        if i > 0 and cur is None:
            return None
        kind, arg = seg
        if kind == "attr":
            cur = getattr(cur, arg, MISSING)
            if cur is MISSING:
                return MISSING
        elif kind == "call":
            f = lookup(arg)
            if f is MISSING:
                return MISSING
            cur = f(cur)
        else:
            cur = bool(cur & arg)
    return cur


def matches(pattern, value, spelling, ns):
    if not spelling["present"]:
        return value is MISSING
    tag = pattern[0]
    if tag == "state":
        return value == spelling["values"][pattern[1]]
    if tag == "bool":
        return value is pattern[1]
    if tag == "none":
        return value is None
    if tag == "any":
        return value is not MISSING
    if tag == "type":
        return type(value).__name__ == pattern[1]
    if tag == "is":
        return value is ns[pattern[1]]
    raise AssertionError(pattern)


def check_snapshot(expected, ns):
    """expected: [(name, kind, state, delegate)]. Every spelling of every expected observable."""
    for name, kind, state, delegate in expected:
        obj = ns[name]
        exps = list(SPEC["invariants"][kind][state])
        exps.append(["state", ["state", state]])
        if delegate is not None:
            exps = [e for e in exps if e[0] != "delegate"] + [["delegate", list(delegate)]]
        for observable, pattern in exps:
            for spelling in SPEC["reads"][kind].get(observable, []):
                try:
                    v = read(obj, spelling["path"])
                except Exception as e:  # a read that raises
                    v = e
                assert matches(pattern, v, spelling, ns), (name, observable, spelling["read"], pattern, v)


# ---------------------------------------------------------------------------------------------
# The machine.

COUNT = {"transitions": 0, "checked": 0, "examples": 0}
OPS = {"generator": "next", "iterable_coroutine": "next", "coroutine": "send"}


def programs():
    kinds = st.sampled_from(SHAPE["kinds"])
    return kinds.flatmap(lambda k: body(k, SHAPE["max_depth"], 2).map(lambda b: (k, b))).filter(
        lambda f: len(objects_of(f)) <= SHAPE["max_inner"] + 1
    )


class Introspection(RuleBasedStateMachine):
    @initialize(func=programs())
    def create(self, func):
        COUNT["examples"] += 1
        self.objs = objects_of(func)
        self.kind = func[0]
        self.model = Model(self.objs)
        self.inside = []
        ns = {"__name__": "__introspec_case__", "observe": self.observe}
        exec(compile(render(self.objs), "<hypothesis>", "exec"), ns)
        ns["subject"] = ns["f0"]()
        self.ns = ns
        self.active = False
        check_snapshot(self.model.expect_all(), ns)

    def observe(self):
        if self.active:
            self.inside.append(self.model_inside.pop(0) if self.model_inside else None)
            expected = self.inside[-1]
            assert expected is not None, "more observe() calls than the model predicts"
            check_snapshot(expected, self.ns)

    def applicable(self, op):
        return self.model.find(0, op) is not None

    def do(self, op, call):
        COUNT["transitions"] += 1
        try:
            expected = self.model.apply(0, op)
        except Unpredictable:
            return
        self.model_inside = self.model.inside
        self.model.inside = []
        self.active = True
        try:
            got = ("ret", call(self.ns["subject"]))
        except BaseException as e:
            got = ("raise", type(e).__name__, getattr(e, "value", None) if isinstance(e, StopIteration) else None)
        finally:
            self.active = False
        assert not self.model_inside, "fewer observe() calls than the model predicts"
        if expected[0] != "any":
            assert got == expected, (op, expected, got)
        check_snapshot(self.model.expect_all(), self.ns)
        COUNT["checked"] += 1

    @precondition(lambda self: self.applicable(("resume",)))
    @rule()
    def resume(self):
        if self.kind == "coroutine":
            self.do(("resume",), lambda s: s.send(None))
        else:
            self.do(("resume",), next)

    @precondition(lambda self: self.applicable(("send_value", 1)))
    @rule(v=st.integers(1, 99))
    def send(self, v):
        self.do(("send_value", v), lambda s: s.send(v))

    @precondition(lambda self: self.applicable(("throw", "ValueError")))
    @rule(e=st.sampled_from(["ValueError", "KeyError", "GeneratorExit"]))
    def throw(self, e):
        exc = {"ValueError": ValueError, "KeyError": KeyError, "GeneratorExit": GeneratorExit}[e]
        self.do(("throw", e), lambda s: s.throw(exc("thrown")))

    @precondition(lambda self: self.applicable(("close",)))
    @rule()
    def close(self):
        self.do(("close",), lambda s: s.close())


def main():
    cfg = settings(
        max_examples=100,
        stateful_step_count=SHAPE["max_ops"],
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    start, cpu = time.time(), time.process_time()
    while time.time() - start < SECONDS:
        run_state_machine_as_test(Introspection, settings=cfg)
    out = dict(COUNT)
    out["seconds"] = time.time() - start
    out["cpu"] = time.process_time() - cpu
    out["hypothesis"] = hypothesis.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
