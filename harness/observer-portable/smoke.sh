#!/usr/bin/env bash
# Smoke test of the portable observer (harness/PROTOCOL.md) on every interpreter at hand.
#
#   harness/observer-portable/smoke.sh [PYTHON ...]
#
# Without arguments: the pyenv interpreters 2.7 and 3.6-3.13 and /usr/bin/pypy3, those that
# exist. Each one runs introspec_portable.py as the harness would (requests piped to stdin,
# answers read from stdout, stderr kept apart); python3 checks every answer. Exits non-zero if
# any check fails on any interpreter, or if no interpreter was found.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
OBS="$HERE/introspec_portable.py"
CHECKER_PY=${CHECKER_PY:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ $# -gt 0 ]; then
    PYTHONS=("$@")
else
    PYTHONS=()
    ROOT=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for v in 2.7.18 3.6.15 3.7.16 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
        [ -x "$ROOT/versions/$v/bin/python" ] && PYTHONS+=("$ROOT/versions/$v/bin/python")
    done
    for extra in /usr/bin/pypy3 "$ROOT"/versions/3.13.*t/bin/python "$ROOT"/versions/pypy3*/bin/python; do
        [ -x "$extra" ] && PYTHONS+=("$extra")
    done
fi
if [ ${#PYTHONS[@]} -eq 0 ]; then
    echo "smoke: no interpreter found" >&2
    exit 2
fi

# ---------------------------------------------------------------------------------------
# The requests, one JSON line each (the same for every interpreter; the checker knows which
# answers differ by version).
"$CHECKER_PY" - "$WORK/requests.jsonl" <<'PYEOF'
import json, sys

def case(id, source, targets=(), steps=(), refs=(), module=None):
    return {"run": {"id": id, "origin": "cases/smoke.toml:%d" % (len(reqs) + 1), "source": source,
                    "module": module, "refs": list(refs), "targets": list(targets),
                    "steps": list(steps)}}

def attr(n): return {"attr": n}
def call(f): return {"call": f}
def flag(m): return {"flag": m}

reqs = []
lines = []
reqs.append({"ping": {}})
reqs.append({"load": {"module": "json", "path": None, "call": None}})
reqs.append({"load": {"module": "introspec_no_such_module", "path": None}})
reqs.append(case("gen", (
    "import os\n"
    "def gen():\n"
    "    observe()\n"
    "    print('hi-from-body')\n"
    "    os.write(1, b'junk-from-body\\n')\n"
    "    yield 1\n"
    "    observe()\n"
    "    yield 2\n"),
    refs=["gen.__code__", "subject.gi_frame", "1/0"],
    targets=[{"name": "subject", "reads": [
        [attr("gi_frame")], [attr("gi_running")], [attr("gi_suspended")],
        [call("inspect.getgeneratorstate")], [attr("gi_code")],
        [attr("gi_frame"), attr("f_lasti")], [attr("gi_code"), attr("co_flags"), flag(32)],
        [call("inspect.no_such_function")], [call("introspec_no_such_mod.f")],
        [attr("gi_code"), attr("co_name")]]}],
    steps=[{"op": "create", "expr": "gen()"}, {"op": "next", "target": "subject"},
           {"op": "next", "target": "subject"}, {"op": "next", "target": "subject"}]))
reqs.append(case("syntax", "x = 1\ndef f(:\n    pass\n"))
reqs.append(case("exec-error", "x = 1\n\nraise ValueError('boom')\n"))
reqs.append(case("agen", (
    "import inspect\n"
    "async def agen():\n"
    "    observe()\n"
    "    x = yield 1\n"
    "    yield x\n"),
    targets=[{"name": "subject", "reads": [[attr("ag_frame")], [call("inspect.getasyncgenstate")]]}],
    steps=[{"op": "create", "expr": "agen()"},
           {"op": "asend", "target": "subject", "arg": "None"},
           {"op": "asend", "target": "subject", "arg": "5"},
           {"op": "aclose", "target": "subject"},
           {"op": "asend", "target": "subject", "arg": "None"},
           {"op": "eval", "expr": "agen()", "bind": "a2"},
           {"op": "athrow", "target": "a2", "arg": "ValueError('v')"}]))
reqs.append(case("drive-limit", (
    "class Forever(object):\n"
    "    def __await__(self):\n"
    "        while True:\n"
    "            yield\n"
    "async def agen():\n"
    "    await Forever()\n"
    "    yield 1\n"),
    steps=[{"op": "create", "expr": "agen()"},
           {"op": "asend", "target": "subject", "arg": "None"}]))
reqs.append(case("gen-methods", (
    "def g2():\n"
    "    try:\n"
    "        x = yield 1\n"
    "        yield x * 2\n"
    "    except ValueError:\n"
    "        yield 'caught'\n"),
    steps=[{"op": "create", "expr": "g2()"}, {"op": "next", "target": "subject"},
           {"op": "send", "target": "subject", "arg": "5"},
           {"op": "throw", "target": "subject", "arg": "ValueError('x')"},
           {"op": "throw", "target": "subject", "arg": "KeyError('k')"},
           {"op": "close", "target": "subject"},
           {"op": "exec", "code": "raise SystemExit(3)"},
           {"op": "exec", "code": "raise GeneratorExit('ge')"},
           {"op": "exec", "code": "raise KeyboardInterrupt"},
           {"op": "eval", "expr": "1/0"}]))
reqs.append(case("values", "",
    refs=["subject"],
    targets=[{"name": "x", "reads": [[]]}],
    steps=[{"op": "create", "expr": "object()"},
           {"op": "eval", "expr": "[1, (2, 'x'), {'k': None}, 2**70, True, 1.5, -2**63, 2**63]"},
           {"op": "eval", "expr": "[[[[1]]]]"},
           {"op": "eval", "expr": "list(range(51))"},
           {"op": "eval", "expr": "(subject, subject, [subject, {subject: 1}])"},
           {"op": "eval", "expr": "b'\\xe9'"},
           {"op": "eval", "expr": "float('nan')"},
           {"op": "eval", "expr": "u'\\ud800-\\u00e9'"},
           {"op": "eval", "expr": "42", "bind": "x"},
           {"op": "exec", "code": "x = x + 1"}]))
reqs.append(case("unbound", "", steps=[{"op": "eval", "expr": "1"}, {"op": "next", "target": "nope"},
                                        {"op": "eval", "expr": "2"}]))
reqs.append(case("isolation-a", "", steps=[{"op": "exec", "code": (
    "import inspect, sys, os\n"
    "inspect.getgeneratorstate = lambda g: 'patched'\n"
    "inspect.introspec_extra = 1\n"
    "sys.stdout = None\n"
    "sys.setrecursionlimit(345)\n")}]))
reqs.append(case("isolation-b",
    "import sys\ndef gen():\n    print('still-printing')\n    yield sys.getrecursionlimit()\n",
    targets=[{"name": "subject", "reads": [[call("inspect.getgeneratorstate")]]}],
    steps=[{"op": "create", "expr": "gen()"}, {"op": "next", "target": "subject"},
           {"op": "eval", "expr": "hasattr(__import__('inspect'), 'introspec_extra')"}]))
lines = [json.dumps(r) for r in reqs]
lines.append("this is not json")
lines.append(json.dumps({"frobnicate": {}}))
lines.append(json.dumps({"run": {"id": "x"}}))
lines.append(json.dumps({"ping": {}}))
lines.append(json.dumps({"shutdown": {}}))
lines.append(json.dumps({"ping": {}}))  # after shutdown: never answered
with open(sys.argv[1], "w") as f:
    f.write("\n".join(lines) + "\n")
PYEOF

# ---------------------------------------------------------------------------------------
cat > "$WORK/check.py" <<'PYEOF'
import json, sys

out_path, err_path, rc, label, secs = sys.argv[1:6]
fails = []
checks = [0]

def check(cond, what, got=None):
    checks[0] += 1
    if not cond:
        fails.append("%s%s" % (what, "" if got is None else ": got %s" % json.dumps(got)))

raw = open(out_path, "rb").read()
err = open(err_path, "rb").read().decode("utf-8", "replace")
msgs = []
for i, line in enumerate(raw.split(b"\n")[:-1]):
    try:
        msgs.append(json.loads(line.decode("utf-8")))
    except Exception as e:
        fails.append("stdout line %d is not JSON (%s): %r" % (i + 1, e, line[:200]))
check(raw.endswith(b"\n"), "stdout ends with a newline")
check(rc == "0", "exit status 0", rc)

def take(key):
    if not msgs:
        fails.append("no answer where %s was expected" % key)
        return None
    m = msgs.pop(0)
    if not (isinstance(m, dict) and list(m) == [key]):
        fails.append("expected %s, got %s" % (key, json.dumps(m)[:300]))
        return None
    return m[key]

hello = take("hello") or {}
vi = tuple(hello.get("version_info", [0, 0])[:2])
impl = hello.get("implementation")
check(hello.get("protocol") == 1 and hello.get("observer") == "portable"
      and hello.get("observer_version") == "0.1.0", "hello header", hello)
check(isinstance(hello.get("version"), str) and hello.get("version", "").startswith("%d.%d" % vi),
      "hello version", hello.get("version"))
check(len(hello.get("version_info", [])) == 5, "version_info has 5 items")
for k in ("free_threaded", "debug"):
    check(isinstance(hello.get(k), bool), "hello %s is a bool" % k)
check("\n" not in hello.get("build", "\n"), "hello build has no newline")
label = "%s %s %s" % (impl, hello.get("version"), "(free-threaded)" if hello.get("free_threaded") else "")

N = "None"
def I(n): return {"Int": n}
def B(b): return {"Bool": b}
def S(s): return {"Str": s}
def O(t, i, refs=()): return {"Obj": {"type": t, "id": i, "refs": list(refs)}}
def Miss(n): return {"Missing": n}

check(take("pong") == {}, "ping")
check(take("loaded") == {"module": "json", "error": None}, "load json")
ld = take("loaded") or {}
check(ld.get("module") == "introspec_no_such_module" and (ld.get("error") or {}).get("type")
      in ("ImportError", "ModuleNotFoundError"), "load of a missing module", ld)

# ---- gen
r = take("result") or {}
check(r.get("id") == "gen" and r.get("error") is None, "gen: no error", r.get("error"))
st = r.get("steps") or [{}] * 4
check(len(st) == 4, "gen: 4 steps", len(st))
susp_missing = vi < (3, 11)
py2 = vi < (3, 0)  # 2.7: gi_running is an int, no inspect.getgeneratorstate
def snap(frame, running, susp, state, lasti_none, frame_refs=(1,)):
    row = [O("frame", 0, frame_refs) if frame else N, I(int(running)) if py2 else B(running),
           Miss("gi_suspended") if susp_missing else B(susp),
           Miss("inspect.getgeneratorstate") if py2 else S(state),
           O("code", 1 if frame else 0, [0]), None, B(True),
           Miss("inspect.no_such_function"), Miss("introspec_no_such_mod.f"), S("gen")]
    return [row]
def same(got, want, what):
    got = json.loads(json.dumps(got))
    ok = isinstance(got, list) and len(got) == len(want)
    if ok:
        for gr, wr in zip(got, want):
            if len(gr) != len(wr):
                ok = False
                break
            for g, w in zip(gr, wr):
                if w is None:  # f_lasti: an Int, or None once the frame is gone
                    continue
                if g != w:
                    ok = False
    check(ok, what, got)
def lasti(snapshot):
    try:
        return snapshot[0][5]
    except Exception:
        return None
if len(st) == 4:
    check(st[0]["outcome"] == {"Returned": O("generator", 0)}, "gen: create outcome", st[0]["outcome"])
    same(st[0]["after"], snap(True, False, False, "GEN_CREATED", False), "gen: after create")
    check(st[0]["inside"] == [], "gen: create has no inside", st[0]["inside"])
    check(st[1]["outcome"] == {"Returned": I(1)}, "gen: next 1", st[1]["outcome"])
    check(len(st[1]["inside"]) == 1, "gen: one observe() in step 1", st[1]["inside"])
    if st[1]["inside"]:
        same(st[1]["inside"][0], snap(True, True, False, "GEN_RUNNING", False), "gen: observe() inside next 1")
    same(st[1]["after"], snap(True, False, True, "GEN_SUSPENDED", False), "gen: after next 1")
    check("Int" in (lasti(st[1]["after"]) or {}), "gen: f_lasti is an Int", lasti(st[1]["after"]))
    check(st[2]["outcome"] == {"Returned": I(2)} and len(st[2]["inside"]) == 1, "gen: next 2", st[2])
    check(st[3]["outcome"] == {"Raised": {"type": "StopIteration", "msg": "", "value": N}},
          "gen: next 3 raises StopIteration", st[3]["outcome"])
    same(st[3]["after"], snap(False, False, False, "GEN_CLOSED", True), "gen: after exhaustion")
    check(lasti(st[3]["after"]) == N, "gen: f_lasti of a finished generator is None (optional chaining)")
check("hi-from-body" in err and "junk-from-body" in err, "print() and os.write(1) go to stderr")

# ---- syntax / exec errors
r = take("result") or {}
e = r.get("error") or {}
check(e.get("phase") == "compile" and e.get("type") == "SyntaxError" and e.get("line") == 2
      and r.get("steps") == [], "syntax error: phase compile, line 2", r)
r = take("result") or {}
e = r.get("error") or {}
check(e == {"phase": "exec", "type": "ValueError", "msg": "boom", "line": 3} and r.get("steps") == [],
      "exec error: phase exec, line 3", r)

# ---- async generator
r = take("result") or {}
if vi < (3, 6):
    e = r.get("error") or {}
    check(e.get("phase") == "compile" and e.get("type") == "SyntaxError", "agen: compile error before 3.6", r)
else:
    check(r.get("error") is None, "agen: no error", r.get("error"))
    st = r.get("steps") or []
    check(len(st) == 7, "agen: 7 steps", len(st))
    if len(st) == 7:
        agstate = (lambda s: S(s)) if vi >= (3, 12) else (lambda s: Miss("inspect.getasyncgenstate"))
        check(st[0]["outcome"] == {"Returned": O("async_generator", 0)}, "agen: create", st[0]["outcome"])
        check(st[0]["after"] == [[O("frame", 0), agstate("AGEN_CREATED")]], "agen: after create", st[0]["after"])
        check(st[1]["outcome"] == {"Returned": I(1)}, "agen: asend(None) returns 1", st[1]["outcome"])
        check(len(st[1]["inside"]) == 1, "agen: observe() inside asend", st[1]["inside"])
        check(st[1]["after"] == [[O("frame", 0), agstate("AGEN_SUSPENDED")]], "agen: after asend", st[1]["after"])
        check(st[2]["outcome"] == {"Returned": I(5)}, "agen: asend(5) returns 5", st[2]["outcome"])
        check(st[3]["outcome"] == {"Returned": N}, "agen: aclose returns None", st[3]["outcome"])
        check(st[3]["after"] == [[N, agstate("AGEN_CLOSED")]], "agen: after aclose", st[3]["after"])
        check(st[4]["outcome"] == {"Raised": {"type": "StopAsyncIteration", "msg": "", "value": None}},
              "agen: asend after close", st[4]["outcome"])
        check(st[5]["outcome"] == {"Returned": O("async_generator", 0)}, "agen: eval bind", st[5]["outcome"])
        check(st[6]["outcome"] == {"Raised": {"type": "ValueError", "msg": "v", "value": None}},
              "agen: athrow on a fresh agen", st[6]["outcome"])
r = take("result") or {}
if vi >= (3, 6):
    st = r.get("steps") or [{}, {}]
    check(r.get("error") is None and len(st) == 2 and
          (st[1].get("outcome") or {}).get("Raised", {}).get("type") == "IntrospecDriveLimit",
          "drive limit", r)

# ---- generator methods, BaseException outcomes
r = take("result") or {}
st = r.get("steps") or []
outs = [s.get("outcome") for s in st]
def raised(t, msg):
    return {"Raised": {"type": t, "msg": msg, "value": None}}
want = [{"Returned": O("generator", 0)}, {"Returned": I(1)}, {"Returned": I(10)},
        {"Returned": S("caught")}, raised("KeyError", "'k'"), {"Returned": N},
        raised("SystemExit", "3"), raised("GeneratorExit", "ge"), raised("KeyboardInterrupt", ""),
        raised("ZeroDivisionError", outs[-1]["Raised"]["msg"] if outs and "Raised" in outs[-1] else "?")]
check(r.get("error") is None and outs == want, "send/throw/close and BaseException outcomes", outs)

# ---- values
r = take("result") or {}
st = r.get("steps") or []
outs = [s.get("outcome", {}).get("Returned") for s in st]
afters = [s.get("after") for s in st]
want = [O("object", 0, [0]),
        {"Seq": [I(1), {"Seq": [I(2), S("x")]}, {"Dict": [[S("k"), N]]},
                 {"BigInt": "1180591620717411303424"}, B(True), {"Float": 1.5},
                 I(-9223372036854775808), {"BigInt": "9223372036854775808"}]},
        {"Seq": [{"Seq": [{"Seq": [O("list", 0)]}]}]},
        O("list", 0),
        {"Seq": [O("object", 0, [0]), O("object", 0, [0]),
                 {"Seq": [O("object", 0, [0]), {"Dict": [[O("object", 0, [0]), I(1)]]}]}]},
        S(u"\u00e9") if vi < (3, 0) else O("bytes", 0),
        {"Float": None},
        S(u"\ufffd-\u00e9"),
        I(42),
        N]
check(r.get("error") is None and outs == want, "value summaries", outs)
check(afters[:8] == [[["Unbound"]]] * 8 and afters[8] == [[I(42)]] and afters[9] == [[I(43)]],
      "Unbound, bind, exec", afters)

# ---- unbound target
r = take("result") or {}
e = r.get("error") or {}
check(e.get("phase") == "step" and e.get("line") is None and len(r.get("steps") or []) == 1,
      "unbound target: step error after one step", r)

# ---- isolation
r = take("result") or {}
check(r.get("error") is None and len(r.get("steps", [])) == 1 and "Returned" in r["steps"][0]["outcome"],
      "isolation: case a runs", r)
r = take("result") or {}
st = r.get("steps") or [{}] * 3
check(r.get("error") is None and len(st) == 3, "isolation: case b runs", r)
if len(st) == 3:
    check(st[0].get("after") == [[Miss("inspect.getgeneratorstate") if py2 else S("GEN_CREATED")]],
          "isolation: inspect restored", st[0].get("after"))
    check(st[1].get("outcome", {}).get("Returned") not in (None, I(345)),
          "isolation: recursion limit restored, stdout usable", st[1].get("outcome"))
    check(st[2].get("outcome") == {"Returned": B(False)}, "isolation: added name removed", st[2].get("outcome"))
check("still-printing" in err, "print works after a case replaced sys.stdout")

# ---- bad requests, ping, shutdown
for what in ("garbage line", "unknown request", "malformed case"):
    b = take("bad_request")
    check(isinstance(b, dict) and isinstance(b.get("msg"), str), "bad_request for a " + what, b)
check(take("pong") == {}, "ping after bad requests")
check(msgs == [], "nothing after shutdown", msgs)

if fails:
    print("FAIL  %-40s %d/%d checks failed (%ss)" % (label, len(fails), checks[0], secs))
    for f in fails:
        print("      - " + f[:600])
    sys.exit(1)
print("ok    %-40s %d checks (%ss)" % (label, checks[0], secs))
PYEOF

status=0
for py in "${PYTHONS[@]}"; do
    out="$WORK/out" err="$WORK/err"
    start=$(date +%s.%N)
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" PYTHONDONTWRITEBYTECODE=1 PYTHONIOENCODING=utf-8 \
        PYTHONHASHSEED=0 PYTHONUNBUFFERED=1 \
        timeout 120 "$py" "$OBS" < "$WORK/requests.jsonl" > "$out" 2> "$err"
    rc=$?
    secs=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null | sed 's/^\./0./' | cut -c1-5)
    if ! "$CHECKER_PY" "$WORK/check.py" "$out" "$err" "$rc" "$py" "${secs:-?}"; then
        status=1
        echo "      ($py; stderr tail follows)"
        tail -n 15 "$err" | sed 's/^/      | /'
    fi
done
exit $status
