# introspec portable observer: one file, CPython 2.7 and 3.6+, PyPy, free-threaded builds.
#
# Speaks the worker protocol of harness/PROTOCOL.md on a private copy of fds 0 and 1.
# Started as `python introspec_portable.py`.
#
# Jython (2.7 on the JVM) has no os.dup/os.dup2 and no fstat of fds 0-2, so there the channel
# cannot move off fds 0 and 1: it stays on the process's own stdin and stdout (the file
# objects the interpreter opened on them, kept privately), and sys.stdin/sys.stdout are
# pointed at /dev/null and stderr instead. A case's `print` still cannot reach the channel;
# a write to fd 1 itself (os.write(1, ...)) could, and is not undone. Every fallback for
# Jython is marked `_JYTHON` below.
#
# No `from __future__` import here on purpose: `compile`/`eval` of case code must not
# inherit compiler flags from this file (the PyO3 observer calls them with no Python frame).

import functools
import sys
import os

# ---------------------------------------------------------------------------------------
# The private channel, taken before anything else is imported.

_JYTHON = sys.platform.startswith("java")
_write = os.write
_fstat = os.fstat   # bound now: a case may replace the os module's functions
_dup2 = getattr(os, "dup2", None)   # _JYTHON: none
_RFD = None
_WFD = None
# _JYTHON: the channel's two file objects (the interpreter's own stdin and stdout)
_CHAN_IN = None
_CHAN_OUT = None
# Private copies of what fds 0, 1 and 2 must point at (/dev/null, and the stderr pipe for both
# 1 and 2), and the (st_dev, st_ino) of each: a case that closes or redirects one of them is
# undone after it (see _restore_fds).
_NULLFD = None
_ERRFD = None
_FD_WANT = ()


def _fd_id(fd):
    st = _fstat(fd)
    return (st.st_dev, st.st_ino)


def _take_channel():
    global _RFD, _WFD, _NULLFD, _ERRFD, _FD_WANT, _CHAN_IN, _CHAN_OUT
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
    if _JYTHON:
        # no fd to move (see the top of the file): keep the streams, give the case others
        _RFD = 0
        _CHAN_IN, _CHAN_OUT = sys.stdin, sys.stdout
        sys.stdin = open(os.devnull)
        sys.stdout = sys.stderr
        return
    _RFD = os.dup(0)
    _WFD = os.dup(1)
    _NULLFD = os.open(os.devnull, os.O_RDWR)
    _ERRFD = os.dup(2)
    if sys.version_info[0] == 2:  # 3.4+ makes dup'ed fds non-inheritable already
        try:
            import fcntl
            for fd in (_RFD, _WFD, _NULLFD, _ERRFD):
                fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
        except BaseException:
            pass
    os.dup2(_NULLFD, 0)
    os.dup2(2, 1)
    _FD_WANT = ((0, _NULLFD, _fd_id(_NULLFD)), (1, _ERRFD, _fd_id(_ERRFD)), (2, _ERRFD, _fd_id(_ERRFD)))
    # sys.stdin / sys.stdout keep wrapping fds 0 and 1, which now point at /dev/null and at
    # fd 2.


def _restore_fds():
    for fd, source, want in _FD_WANT:
        try:
            if _fd_id(fd) == want:
                continue
        except OSError:  # closed
            pass
        try:
            _dup2(source, fd)
        except OSError:
            pass


def _fresh_stream(fd):
    # A stream over fd 0, 1 or 2 for one whose stream a case closed; it never owns its fd.
    if _JYTHON:  # no os.dup: /dev/null for stdin, stderr's stream (if open) for the others
        return open(os.devnull) if fd == 0 else sys.__stderr__
    if PY2:
        return os.fdopen(os.dup(fd), "r" if fd == 0 else "w", 0 if fd == 2 else 1)
    import io
    if fd == 0:
        return io.open(0, "r", encoding="utf-8", closefd=False)
    return io.open(fd, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)


if __name__ == "__main__":
    _take_channel()

import json
import importlib
import re
import inspect
import types

try:
    import asyncio
except BaseException:  # 2.7, or a build without it
    asyncio = None

OBSERVER = "portable"
OBSERVER_VERSION = "0.1.0"
PROTOCOL = 2
DRIVE_LIMIT = 10000

PY2 = sys.version_info[0] == 2

if PY2:
    import __builtin__ as _builtins
    _text = unicode  # noqa: F821
    _int_types = (int, long)  # noqa: F821

    def _native(s):
        return s.encode("utf-8") if isinstance(s, unicode) else s  # noqa: F821

    def _stop_value(e):
        args = e.args
        return args[0] if args else None
else:
    import builtins as _builtins
    _text = str
    _int_types = (int,)

    def _native(s):
        return s

    def _stop_value(e):
        return e.value

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_INF = float("inf")

# The pattern is written with escapes that re reads (3.3+) or that unicode_escape decodes (2.7),
# never as literal surrogates: Jython's compiler rejects those even in a branch not taken
if sys.maxunicode == 0xFFFF:  # a narrow 2.7 build: surrogate pairs are real characters
    _LONE = r"[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
else:
    _LONE = r"[\ud800-\udfff]"
if _JYTHON:
    # Jython's unicode cannot hold a lone surrogate (unichr(0xd800) raises ValueError):
    # nothing to replace
    _LONE = u"(?!)"
elif PY2:
    _LONE = _LONE.decode("unicode_escape")
_lone_re = re.compile(_LONE)


class IntrospecDriveLimit(Exception):
    pass


class _Bad(Exception):
    pass


_M = object()        # "absent" sentinel
_NOMATCH = object()  # the value of a reference expression that raised


def _exec(code, ns):
    exec(code, ns)


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _send(msg):
    line = _dumps(msg)
    if PY2:
        if not isinstance(line, unicode):  # noqa: F821
            line = line.decode("utf-8")
        if _lone_re.search(line):
            line = _lone_re.sub(u"\ufffd", line)
        data = (line + u"\n").encode("utf-8")
    else:
        line += "\n"
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: each becomes U+FFFD
            data = _lone_re.sub(u"\ufffd", line).encode("utf-8")
    try:
        if _CHAN_OUT is not None:  # _JYTHON
            _CHAN_OUT.write(data)
            _CHAN_OUT.flush()
            return
        while data:
            n = _write(_WFD, data)
            data = data[n:]
    except (OSError, IOError):  # the harness is gone
        os._exit(1)


def _exit(status):
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
    os._exit(status)


# --------------------------------------------------------------------------------------
# Summaries of values (V) and exceptions (EXC).

def _exc_msg(e):
    try:
        m = str(e)
        if PY2 and not isinstance(m, unicode):  # noqa: F821
            m = m.decode("latin-1")
        return m
    except BaseException:
        pass
    if PY2:
        try:
            return unicode(e)  # noqa: F821
        except BaseException:
            pass
    return u"<unprintable %s object>" % _type_name(e)


def _type_name(x):
    n = type(x).__name__
    if PY2 and not isinstance(n, unicode):  # noqa: F821
        n = n.decode("latin-1")
    return n


def _decimal(x):
    try:
        return u"%d" % x
    except ValueError:  # 3.11+ limits int -> str conversions (int_max_str_digits)
        pass
    sign = u"-" if x < 0 else u""
    x = abs(x)
    chunk = 10 ** 1000
    parts = []
    while x:
        x, r = divmod(x, chunk)
        parts.append(u"%d" % r)
    head = parts.pop()
    return sign + head + u"".join(p.rjust(1000, u"0") for p in reversed(parts))


def _frame_locals_proxy():
    """type(f_locals) of a function frame, unless it is dict: PEP 667's FrameLocalsProxy (3.13+)."""
    try:
        t = type((lambda: sys._getframe().f_locals)())
    except BaseException:
        return None
    return None if t is dict else t


# Summarised as the dict it stands for (its values are compared, not its type).
_FRAME_LOCALS_PROXY = _frame_locals_proxy()


class _Summ(object):
    """Summarises values for one snapshot (or one outcome): object ids count from 0."""

    __slots__ = ("refvals", "ids")

    def __init__(self, refvals):
        self.refvals = refvals
        self.ids = {}  # id(x) -> (x, Obj payload)

    def obj(self, x):
        hit = self.ids.get(id(x))
        if hit is not None:
            return {"Obj": hit[1]}
        refs = [i for i, r in enumerate(self.refvals) if r is x]
        payload = {"type": _type_name(x), "id": len(self.ids), "refs": refs}
        self.ids[id(x)] = (x, payload)
        return {"Obj": payload}

    def value(self, x, depth=0):
        if x is None:
            return "None"
        if x is True:
            return {"Bool": True}
        if x is False:
            return {"Bool": False}
        t = type(x)
        if t in _int_types or isinstance(x, _int_types):
            if t not in _int_types:
                x = int.__int__(x) if isinstance(x, int) else long.__long__(x)  # noqa: F821
            if _I64_MIN <= x <= _I64_MAX:
                return {"Int": int(x)}
            return {"BigInt": _decimal(x)}
        if t is float or isinstance(x, float):
            if t is not float:
                x = float.__float__(x)
            if x != x or x == _INF or x == -_INF:
                return {"Float": None}  # what serde_json writes for a non-finite f64
            return {"Float": x}
        if t is _text:
            return {"Str": x}
        if PY2:
            if isinstance(x, str):
                return {"Str": str.decode(x, "latin-1")}
            if isinstance(x, unicode):  # noqa: F821
                return {"Str": unicode.__getslice__(x, 0, len(x))}  # noqa: F821
        elif isinstance(x, str):
            return {"Str": str.__str__(x)}
        if t is list or t is tuple:
            if depth >= 3 or len(x) > 50:
                return self.obj(x)
            d = depth + 1
            return {"Seq": [self.value(i, d) for i in x]}
        if t is _FRAME_LOCALS_PROXY and _FRAME_LOCALS_PROXY is not None and depth < 3:
            try:
                copy = dict(x)
            except BaseException:
                copy = None
            if copy is not None and len(copy) <= 50:
                x, t = copy, dict
        if t is dict:
            if depth >= 3 or len(x) > 50:
                return self.obj(x)
            d = depth + 1
            out = []
            for k, v in list(x.items()):
                ks = self.value(k, d)
                out.append([ks, self.value(v, d)])
            return {"Dict": out}
        return self.obj(x)

    def exc(self, e):
        if isinstance(e, StopIteration):
            try:
                v = self.value(_stop_value(e))
            except BaseException:
                v = None
        else:
            v = None
        return {"type": _type_name(e), "msg": _exc_msg(e), "value": v}


# --------------------------------------------------------------------------------------
# Reads.

_SEG_ATTR = 0
_SEG_CALL = 1
_SEG_FLAG = 2
_SEG_EVENTS = 3

_call_mods = {}


def _call_func(modname, funcname):
    mod = _call_mods.get(modname)
    if mod is None:
        if not modname:
            mod = _builtins
        else:
            try:
                mod = importlib.import_module(modname)
            except ImportError:
                return _M
        _call_mods[modname] = mod
    return getattr(mod, funcname, _M)


def _read(obj, segs, s):
    cur = obj
    first = True
    try:
        for kind, a, b in segs:
            if cur is None and not first:
                return "None"
            first = False
            if kind == _SEG_EVENTS:
                return _read_events(a, b)
            if kind == _SEG_ATTR:
                try:
                    cur = getattr(cur, a)
                except AttributeError:
                    return {"Missing": b}
            elif kind == _SEG_CALL:
                f = _call_func(a[0], a[1])
                if f is _M:
                    return {"Missing": b}
                cur = f(cur)
            else:
                cur = bool(cur & a)
        return s.value(cur)
    except BaseException as e:
        return {"Raised": s.exc(e)}


# --------------------------------------------------------------------------------------
# Parsing requests (shapes as in harness/protocol/src/lib.rs).

def _field(d, key, kind, optional=False):
    if not isinstance(d, dict):
        raise _Bad("expected an object holding `%s`" % key)
    v = d.get(key, _M)
    if v is _M or (v is None and optional):
        if optional:
            return None
        raise _Bad("missing field `%s`" % key)
    if kind is _text:
        if not isinstance(v, _text):
            raise _Bad("field `%s` must be a string" % key)
    elif kind is list:
        if not isinstance(v, list):
            raise _Bad("field `%s` must be a list" % key)
    elif kind is dict:
        if not isinstance(v, dict):
            raise _Bad("field `%s` must be an object" % key)
    return v


def _parse_segment(seg):
    if not isinstance(seg, dict) or len(seg) != 1:
        raise _Bad("a read segment must be an object with one key")
    (k, v), = seg.items()
    if k == "attr":
        if not isinstance(v, _text):
            raise _Bad("attr segment must name a string")
        return (_SEG_ATTR, _native(v), v)
    if k == "call":
        if not isinstance(v, _text):
            raise _Bad("call segment must name a string")
        mod, _, func = v.rpartition(".")
        return (_SEG_CALL, (_native(mod), _native(func)), v)
    if k == "flag":
        if isinstance(v, bool) or not isinstance(v, _int_types) or not (_I64_MIN <= v <= _I64_MAX):
            raise _Bad("flag segment must be an i64")
        return (_SEG_FLAG, v, None)
    if k == "events":
        return _parse_events_segment(v)
    raise _Bad("unknown read segment `%s`" % k)


def _op_create(run, t, st):
    v = eval(st[3], run.ns)
    run.ns["subject"] = v
    return v


def _op_next(run, t, st):
    return next(t)


def _op_send(run, t, st):
    return t.send(eval(st[3], run.ns))


def _op_throw(run, t, st):
    return t.throw(eval(st[3], run.ns))


def _op_close(run, t, st):
    return t.close()


def _drive(aw):
    send = aw.send
    n = 0
    while n < DRIVE_LIMIT:
        n += 1
        try:
            send(None)
        except StopIteration as e:
            return _stop_value(e)
    raise IntrospecDriveLimit("awaitable not complete after %d sends" % DRIVE_LIMIT)


def _op_asend(run, t, st):
    return _drive(t.asend(eval(st[3], run.ns)))


def _op_athrow(run, t, st):
    return _drive(t.athrow(eval(st[3], run.ns)))


def _op_aclose(run, t, st):
    return _drive(t.aclose())


def _op_eval(run, t, st):
    v = eval(st[3], run.ns)
    if st[4] is not None:
        run.ns[st[4]] = v
    return v


def _op_exec(run, t, st):
    _exec(st[3], run.ns)
    return None


# op -> (function, needs target, argument field)
_OPS = {
    "create": (_op_create, False, "expr"),
    "next": (_op_next, True, None),
    "send": (_op_send, True, "arg"),
    "throw": (_op_throw, True, "arg"),
    "close": (_op_close, True, None),
    "asend": (_op_asend, True, "arg"),
    "athrow": (_op_athrow, True, "arg"),
    "aclose": (_op_aclose, True, None),
    "eval": (_op_eval, False, "expr"),
    "exec": (_op_exec, False, "code"),
}


def _parse_step(st):
    op = _field(st, "op", _text)
    spec = _OPS.get(op)
    if spec is None:
        raise _Bad("unknown op `%s`" % op)
    fn, needs_target, argkey = spec
    target = _field(st, "target", _text) if needs_target else None
    arg = _field(st, argkey, _text) if argkey else None
    bind = _field(st, "bind", _text, optional=True) if op == "eval" else None
    # (function, target native, target as sent, argument, bind native)
    return (fn, _native(target) if target is not None else None, target, arg,
            _native(bind) if bind is not None else None)


def _compile_ref(expr):
    try:
        return compile(expr.lstrip(u" \t"), "<string>", "eval", 0, True)
    except BaseException:
        return None


class _Case(object):
    def __init__(self, c):
        if not isinstance(c, dict):
            raise _Bad("run wants a case object")
        self.id = _field(c, "id", _text)
        self.origin = _field(c, "origin", _text)
        self.source = _field(c, "source", _text)
        self.module = _field(c, "module", _text, optional=True)
        self.refs = [_compile_ref(r) for r in _check_strs(_field(c, "refs", list), "refs")]
        self.targets = []
        for t in _field(c, "targets", list):
            name = _field(t, "name", _text)
            reads = []
            for path in _field(t, "reads", list):
                if not isinstance(path, list):
                    raise _Bad("a read must be a list of segments")
                reads.append(tuple(_parse_segment(s) for s in path))
            self.targets.append((_native(name), reads))
        self.steps = [_parse_step(s) for s in _field(c, "steps", list)]
        self.events = _events_wanted(self.targets)


def _check_strs(xs, what):
    for x in xs:
        if not isinstance(x, _text):
            raise _Bad("`%s` must hold strings" % what)
    return xs


# --------------------------------------------------------------------------------------
# Running a case.

def _error_line(phase, e, tb, origin):
    if phase == "compile" and isinstance(e, SyntaxError):
        line = e.lineno
    else:
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == origin:
                line = tb.tb_lineno
            tb = tb.tb_next
    if isinstance(line, _int_types) and not isinstance(line, bool) and 0 <= line <= 0xFFFFFFFF:
        return int(line)
    return None


def _case_error(phase, e, tb, origin):
    return {"phase": phase, "type": _type_name(e), "msg": _exc_msg(e),
            "line": _error_line(phase, e, tb, origin)}


class _Run(object):
    def __init__(self, case):
        self.case = case
        self.ns = None
        self.inside = None   # the running step's list of observe() snapshots, else None
        self.busy = False    # a snapshot is being taken

    def observe(self):
        inside = self.inside
        if inside is not None and not self.busy:
            inside.append(self.snapshot())

    def eval_refs(self):
        vals = []
        ns = self.ns
        for code in self.case.refs:
            if code is None:
                vals.append(_NOMATCH)
                continue
            try:
                vals.append(eval(code, ns))
            except BaseException:
                vals.append(_NOMATCH)
        return vals

    def snapshot(self):
        self.busy = True
        try:
            s = _Summ(self.eval_refs())
            ns = self.ns
            out = []
            for name, reads in self.case.targets:
                obj = ns.get(name, _M)
                if obj is _M:
                    out.append(["Unbound"] * len(reads))
                else:
                    out.append([_read(obj, segs, s) for segs in reads])
            return out
        finally:
            self.busy = False

    def outcome(self, ok, v):
        self.busy = True
        try:
            s = _Summ(self.eval_refs())
            if ok:
                return {"Returned": s.value(v)}
            return {"Raised": s.exc(v)}
        finally:
            self.busy = False

    def do_step(self, st, t):
        # A function of its own so that, on 2.7, the handled exception does not stay in
        # sys.exc_info() while later steps run. Returns (ok, value or exception, inside).
        inside = []
        self.inside = inside
        try:
            try:
                return True, st[0](self, t, st), inside
            except BaseException as e:
                return False, e, inside
        finally:
            self.inside = None

    def run(self):
        case = self.case
        origin = _native(case.origin)
        result = {"id": case.id, "error": None, "steps": []}
        if case.module is not None:
            try:
                self.ns = importlib.import_module(_native(case.module)).__dict__
            except BaseException as e:
                result["error"] = _case_error("exec", e, sys.exc_info()[2], origin)
                return result
            self.ns["observe"] = functools.partial(self.observe)
        else:
            # functools.partial is a C callable, as the PyO3 observer's observe() is: calling
            # it adds no Python frame, so f_lasti read inside agrees between the observers
            self.ns = {"__name__": "__introspec_case__", "observe": functools.partial(self.observe)}
            try:
                code = compile(case.source, origin, "exec", 0, True)
            except BaseException as e:
                result["error"] = _case_error("compile", e, sys.exc_info()[2], origin)
                return result
            try:
                _exec(code, self.ns)
            except BaseException as e:
                result["error"] = _case_error("exec", e, sys.exc_info()[2], origin)
                return result
        ns = self.ns
        records = result["steps"]
        for st in case.steps:
            t = None
            if st[1] is not None:
                t = ns.get(st[1], _M)
                if t is _M:
                    result["error"] = {"phase": "step", "type": "NameError",
                                       "msg": u"name '%s' is not defined" % st[2], "line": None}
                    break
            if case.events is None:
                ok, v, inside = self.do_step(st, t)
            else:
                try:
                    ok, v, inside = _do_step_with_events(self, st, t, origin, case.events)
                except BaseException as e:  # the recording could not start or stop
                    result["error"] = _case_error("step", e, None, origin)
                    break
            outcome = self.outcome(ok, v)
            v = None
            records.append({"outcome": outcome, "after": self.snapshot(), "inside": inside})
        return result




# --------------------------------------------------------------------------------------
# Events (issue 15): the reads of `events:settrace` / `events:monitoring`, and the steps of a
# case that has one, run between events_start() and events_stop() (the `# @events` text below).

_EVENT_SOURCES = {u"settrace": "sys.settrace", u"monitoring": "sys.monitoring"}


def _parse_events_segment(v):
    missing = _EVENT_SOURCES.get(v) if isinstance(v, _text) else None
    if missing is None:
        raise _Bad("events segment must name `settrace` or `monitoring`")
    return (_SEG_EVENTS, _native(v), missing)


def _read_events(source, missing):
    log = events_read(source)
    if log is None:
        return {"Missing": missing}
    return {"Seq": [{"Str": t} for t in log]}


def _events_wanted(targets):
    """(settrace, monitoring) if some read of the case is an events read, else None: a case
    without one runs its steps with no tracing at all."""
    trace = monitoring = False
    for _name, reads in targets:
        for segs in reads:
            for kind, a, _b in segs:
                if kind == _SEG_EVENTS:
                    if a == "settrace":
                        trace = True
                    else:
                        monitoring = True
    if trace or monitoring:
        return (trace, monitoring)
    return None


def _do_step_with_events(run, st, t, origin, wanted):
    events_start(origin, wanted[0], wanted[1])
    try:
        return run.do_step(st, t)
    finally:
        events_stop()


# @events: harness/observer-pyo3/src/events.py is put here when the harness writes this file


# --------------------------------------------------------------------------------------
# Isolation between cases.

_ISOLATED = [inspect, types] + ([asyncio] if asyncio is not None else [])


def _save_state():
    return ([(m.__dict__, dict(m.__dict__)) for m in _ISOLATED],
            sys.getrecursionlimit(), sys.stdout, sys.stderr, sys.stdin)


def _restore_state(saved):
    dicts, limit, out, err, inp = saved
    _restore_fds()
    streams = []
    for fd, stream in ((1, out), (2, err), (0, inp)):
        try:
            closed = stream is not None and stream.closed
        except BaseException:
            closed = False
        if closed:
            # a closed stream cannot be given back: bind a fresh one to the same fd
            try:
                stream = _fresh_stream(fd)
            except BaseException:
                pass
        streams.append(stream)
    sys.stdout, sys.stderr, sys.stdin = streams
    for d, copy in dicts:
        for k, v in copy.items():
            if d.get(k, _M) is not v:
                d[k] = v
        if len(d) != len(copy):
            for k in [k for k in d if k not in copy]:
                del d[k]
    try:
        if sys.getrecursionlimit() != limit:
            sys.setrecursionlimit(limit)
    except BaseException:
        pass
    _reset_event_loop()


_asyncio_events = getattr(asyncio, "events", None)


def _reset_event_loop():
    # Back to the state of a fresh worker: no running loop, and no event loop policy (the next
    # use makes a new one, with no loop set and none ever set). A loop a case left set, and
    # not running, is closed.
    events = _asyncio_events
    if events is None:
        return
    try:
        events._set_running_loop(None)
    except BaseException:
        pass
    policy = getattr(events, "_event_loop_policy", None)
    if policy is None:
        return
    try:
        loop = policy._local._loop
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()
    except BaseException:
        pass
    events._event_loop_policy = None


# --------------------------------------------------------------------------------------
# @leftovers: harness/observer-pyo3/src/leftovers.py is put here when the harness writes this file


# --------------------------------------------------------------------------------------
# Requests.

def _handle_load(req):
    module = _field(req, "module", _text)
    path = _field(req, "path", _text, optional=True)
    call = _field(req, "call", _text, optional=True)
    error = None
    try:
        if path is not None:
            p = _native(path)
            if not sys.path or sys.path[0] != p:
                sys.path.insert(0, p)
        mod = importlib.import_module(_native(module))
        if call is not None:
            getattr(mod, _native(call))()
    except BaseException as e:
        error = _Summ([]).exc(e)
    _send({"loaded": {"module": module, "error": error}})


def _handle_run(req):
    case = _Case(req)
    run = _Run(case)
    saved = _save_state()
    world = leftovers_save()
    left = []
    try:
        result = run.run()
    finally:
        run.ns = None
        # timers and handlers first: they may patch what _restore_state gives back
        try:
            left = leftovers_check(world)
        except BaseException as e:
            left = [("the check of what the case left behind failed: %s" % type(e).__name__,
                     False)]
        _restore_state(saved)
        if PY2:
            sys.exc_clear()
    if left:
        result["left"] = [{"what": w, "undone": u} for w, u in left]
    _send({"result": result})


def _handle_ping(req):
    if not isinstance(req, dict):
        raise _Bad("ping wants an object")
    _send({"pong": {}})


def _handle_shutdown(req):
    if not isinstance(req, dict):
        raise _Bad("shutdown wants an object")
    _exit(0)


_HANDLERS = {
    "load": _handle_load,
    "run": _handle_run,
    "ping": _handle_ping,
    "shutdown": _handle_shutdown,
}


def _hello():
    import platform
    import sysconfig
    impl = getattr(sys, "implementation", None)
    impl = impl.name if impl is not None else platform.python_implementation().lower()
    vi = sys.version_info
    build = sys.version.split(" ", 1)
    build = build[1] if len(build) > 1 else u""
    build = build.replace("\n", " ")
    exe = sys.executable or ""
    if PY2:
        enc = sys.getfilesystemencoding() or "utf-8"
        exe = exe.decode(enc, "replace")
        build = build.decode("latin-1")
    try:
        ft = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    except BaseException:
        ft = False
    return {"hello": {
        "protocol": PROTOCOL,
        "observer": OBSERVER,
        "observer_version": OBSERVER_VERSION,
        "implementation": impl,
        "version": platform.python_version(),
        "version_info": [vi[0], vi[1], vi[2], vi[3], vi[4]],
        "free_threaded": ft,
        "debug": hasattr(sys, "gettotalrefcount"),
        "executable": exe,
        "build": build,
    }}


def serve():
    if _RFD is None:
        _take_channel()
    _send(_hello())
    if _CHAN_IN is not None:  # _JYTHON
        readline = _CHAN_IN.readline
    else:
        import io
        readline = io.open(_RFD, "rb", closefd=False).readline
    handlers = _HANDLERS
    while True:
        try:
            line = readline()
        except BaseException:
            break
        if not line:
            break
        try:
            try:
                req = json.loads(line.decode("utf-8"))
            except BaseException as e:
                raise _Bad("not a JSON line: %s" % _exc_msg(e))
            if not isinstance(req, dict) or len(req) != 1:
                raise _Bad("a request is an object with one key")
            (op, body), = req.items()
            h = handlers.get(op)
            if h is None:
                raise _Bad("unknown request `%s`" % op)
            h(body)
        except _Bad as e:
            _send({"bad_request": {"msg": _exc_msg(e)}})
        except BaseException as e:
            # An observer bug: still answer, with one line.
            _send({"bad_request": {"msg": u"observer error: %s: %s" % (_type_name(e), _exc_msg(e))}})
    _exit(0)


if __name__ == "__main__":
    serve()
