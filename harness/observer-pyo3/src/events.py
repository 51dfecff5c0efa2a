# events: what sys.settrace and sys.monitoring deliver during each step of a case that asks
# for them (a read of `events:settrace` or `events:monitoring`; issue 15). One text for both
# observers: the PyO3 observer embeds it, and the harness puts it in place of the `# @events`
# line of introspec_portable.py when it writes that file (harness/worker/src/observers.rs):
# Python 2.7 and 3.6+.
#
# events_start(origin, trace, monitoring) before a step's operation, events_stop() after it;
# events_read(source) is what a read of that source gives: the list of normalised texts
# recorded so far in the step (harness/PROTOCOL.md, "Events"), or None where the interpreter
# has no such source. Only events of code compiled from the case's own source (co_filename is
# the case's origin) are recorded: the observer's, the standard library's and the step
# expressions' code never are, so both observers record the same.
import sys as _ev_sys

_ev_mon = getattr(_ev_sys, "monitoring", None)
try:
    _ev_int_types = (int, long)  # noqa: F821
    _ev_str_types = (str, unicode)  # noqa: F821
except NameError:
    _ev_int_types = (int,)
    _ev_str_types = (str,)

# The most events one step records; past it, one text says how many more were delivered.
_EV_LIMIT = 200

# (name, callback arguments after (code, offset): 0 or 1 value)
_EV_MON_EVENTS = (
    ("PY_START", 0), ("PY_RESUME", 0), ("PY_RETURN", 1), ("PY_YIELD", 1), ("PY_THROW", 1),
    ("PY_UNWIND", 1), ("RAISE", 1), ("RERAISE", 1), ("EXCEPTION_HANDLED", 1),
    ("STOP_ITERATION", 1),
)


class _EvState(object):
    __slots__ = ("origin", "trace", "mon", "prev_trace", "tool", "dropped")

    def __init__(self):
        self.origin = None
        self.trace = None  # the settrace log of the running step, else None
        self.mon = None    # the sys.monitoring log of the running step, else None
        self.prev_trace = None
        self.tool = None
        self.dropped = [0, 0]


_ev = _EvState()
# The logs of the last step, for the reads taken after it.
_ev_last = [[], []]


def _ev_value(x):
    """What a tool receives, in a form that is the same on every run: None, booleans, ints and
    strings as Python writes them, anything else as <its type's name> (a yielded object and an
    internal wrapper of it are told apart by this)."""
    if x is None or x is True or x is False:
        return str(x)
    t = type(x)
    if t in _ev_int_types:
        return "%d" % x
    if t in _ev_str_types:
        return repr(x)
    return "<%s>" % t.__name__


def _ev_add(log, which, text):
    if len(log) < _EV_LIMIT:
        log.append(text)
    else:
        _ev.dropped[which] += 1


def _ev_tracer(frame, event, arg):
    code = frame.f_code
    if code.co_filename != _ev.origin:
        return None
    log = _ev.trace
    if log is None:  # a frame that kept this tracer after its step
        return None
    if event == "call":
        text = "call " + code.co_name
    elif event == "line":
        text = "line %s +%d" % (code.co_name, frame.f_lineno - code.co_firstlineno)
    elif event == "return":
        text = "return %s %s" % (code.co_name, _ev_value(arg))
    elif event == "exception":
        text = "exception %s <%s>" % (code.co_name, arg[0].__name__)
    else:
        return _ev_tracer
    _ev_add(log, 0, text)
    return _ev_tracer


def _ev_mon_callback(name, nargs):
    if nargs == 0:
        def cb(code, offset):
            log = _ev.mon
            if log is not None and code.co_filename == _ev.origin:
                _ev_add(log, 1, name + " " + code.co_name)
    else:
        def cb(code, offset, value):
            log = _ev.mon
            if log is not None and code.co_filename == _ev.origin:
                _ev_add(log, 1, "%s %s %s" % (name, code.co_name, _ev_value(value)))
    return cb


_ev_callbacks = [(getattr(_ev_mon.events, n), _ev_mon_callback(n, k))
                 for n, k in _EV_MON_EVENTS] if _ev_mon is not None else []


def events_start(origin, trace, monitoring):
    """Record the events of one step: settrace's if `trace`, sys.monitoring's if `monitoring`
    (where it exists), of the code whose co_filename is `origin`."""
    _ev.origin = origin
    _ev.dropped = [0, 0]
    if monitoring and _ev_mon is not None:
        tool = None
        for i in (5, 4, 3, 2, 1, 0):
            if _ev_mon.get_tool(i) is None:
                tool = i
                break
        _ev.mon = []
        if tool is None:
            _ev.mon.append("<no free sys.monitoring tool id>")
        else:
            _ev_mon.use_tool_id(tool, "introspec events")
            mask = 0
            for ev, cb in _ev_callbacks:
                _ev_mon.register_callback(tool, ev, cb)
                mask |= ev
            _ev.tool = tool
            _ev_mon.set_events(tool, mask)
    if trace:
        _ev.trace = []
        _ev.prev_trace = _ev_sys.gettrace()
        _ev_sys.settrace(_ev_tracer)


def events_stop():
    """Give back the tracer and the tool id the step found, and keep its logs for the reads."""
    trace, mon = _ev.trace, _ev.mon
    if trace is not None:
        _ev_sys.settrace(_ev.prev_trace)
        _ev.prev_trace = None
    tool = _ev.tool
    if tool is not None:
        _ev.tool = None
        _ev_mon.set_events(tool, 0)
        for ev, _cb in _ev_callbacks:
            _ev_mon.register_callback(tool, ev, None)
        _ev_mon.free_tool_id(tool)
    _ev.trace = None
    _ev.mon = None
    for which, log in ((0, trace), (1, mon)):
        log = list(log) if log is not None else []
        if _ev.dropped[which]:
            log.append("...%d more" % _ev.dropped[which])
        _ev_last[which] = log


def events_read(source):
    """The events of `source` ("settrace" or "monitoring") recorded so far in the running step,
    or in the last step once it has ended; None where the interpreter has no such source."""
    which = 0 if source == "settrace" else 1
    if which == 1 and _ev_mon is None:
        return None
    live = _ev.trace if which == 0 else _ev.mon
    if live is not None:
        return list(live)
    return list(_ev_last[which])
# end of events
