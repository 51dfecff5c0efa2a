"""introspec usage: find the reads of the generator/coroutine/async generator introspection
attributes in Python source, with `ast`. Run by the harness (harness/usage/src/scan.rs).

stdin: a JSON list of sources, each {"name", "kind": "tar" | "zip" | "dir", "path",
"strip_top": whether the archive's paths all start with one NAME-VERSION/ to leave out (an
sdist, not a wheel), "exclude": [directory names left out of a "dir"]}. stdout: one JSON object per source,
in order, one per line. Archives are read member by member without extracting anything
(no path leaves the archive). A file that does not parse on this interpreter (Python 2
only, a deliberately broken test file, a newer syntax) is counted as unparsed.
"""
import ast
import hashlib
import io
import json
import os
import sys
import tarfile
import warnings
import zipfile

ATTRIBUTES = [
    "gi_frame", "gi_running", "gi_code", "gi_yieldfrom", "gi_suspended",
    "cr_frame", "cr_running", "cr_code", "cr_await", "cr_origin", "cr_suspended",
    "ag_frame", "ag_running", "ag_code", "ag_await", "ag_suspended",
    "f_generator",
]
STATE_CALLS = ["getgeneratorstate", "getcoroutinestate", "getasyncgenstate"]
MAX_FILE = 8 << 20  # a .py file over 8 MiB is generated data, not code: counted as unparsed


def literal_name(node):
    """The string of a constant string node, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def is_minus_one(node):
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value == -1
    return (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) is int
            and node.operand.value == 1)


def reads_f_lasti(node):
    if isinstance(node, ast.Attribute):
        return node.attr == "f_lasti"
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "getattr" and len(node.args) >= 2
            and literal_name(node.args[1]) == "f_lasti")


def call_name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def findings(tree):
    """(pattern, line, form) for every match in one module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            if node.attr in ATTRIBUTES or node.attr == "__code__":
                out.append((node.attr, node.lineno, "attribute"))
        elif isinstance(node, ast.Compare):
            operands = [node.left] + list(node.comparators)
            if any(map(reads_f_lasti, operands)) and any(map(is_minus_one, operands)):
                out.append(("f_lasti == -1", node.lineno, "compare"))
        elif isinstance(node, ast.Call):
            out.extend(call_findings(node))
    return out


def call_findings(node):
    name = call_name(node.func)
    if name in STATE_CALLS:
        return [("inspect." + name + "()", node.lineno, "call")]
    if not isinstance(node.func, ast.Name) or name not in ("getattr", "hasattr"):
        return []
    if len(node.args) < 2:
        return []
    attr = literal_name(node.args[1])
    if attr == "__code__":
        if name == "hasattr":
            return [('hasattr(…, "__code__")', node.lineno, "hasattr")]
        if len(node.args) >= 3:
            return [('getattr(…, "__code__", …)', node.lineno, "getattr")]
        return [("__code__", node.lineno, "getattr")]
    if attr in ATTRIBUTES:
        return [(attr, node.lineno, name)]
    return []


def members(source):
    """(path, bytes or None when too large) of every .py file of a source, sorted by path."""
    kind, path = source["kind"], source["path"]
    out = []
    if kind == "tar":
        with tarfile.open(path, "r:*") as t:
            for m in t.getmembers():
                if m.isfile() and m.name.endswith(".py"):
                    data = t.extractfile(m).read() if m.size <= MAX_FILE else None
                    out.append((m.name, data))
    elif kind == "zip":
        with zipfile.ZipFile(path) as z:
            for m in z.infolist():
                if not m.is_dir() and m.filename.endswith(".py"):
                    data = z.read(m) if m.file_size <= MAX_FILE else None
                    out.append((m.filename, data))
    else:
        exclude = set(source.get("exclude", []))
        for top, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in exclude and d != "__pycache__")
            for f in files:
                if f.endswith(".py"):
                    full = os.path.join(top, f)
                    rel = os.path.relpath(full, path).replace(os.sep, "/")
                    size = os.path.getsize(full)
                    with open(full, "rb") as fh:
                        out.append((rel, fh.read() if size <= MAX_FILE else None))
    out.sort(key=lambda m: m[0])
    return strip_top(out) if source.get("strip_top") else out


def strip_top(files):
    """An sdist's files are all under NAME-VERSION/: leave that out of the paths."""
    tops = {f.split("/", 1)[0] for f, _ in files}
    if len(tops) == 1 and all("/" in f for f, _ in files):
        return [(f.split("/", 1)[1], d) for f, d in files]
    return files


def scan(source):
    tree_digest = hashlib.sha256()
    result = {"name": source["name"], "files": 0, "unparsed": [], "findings": []}
    for path, data in members(source):
        result["files"] += 1
        if data is None:
            result["unparsed"].append({"file": path, "why": "over 8 MiB"})
            continue
        tree_digest.update(b"%d:%s%d:" % (len(path.encode()), path.encode(), len(data)))
        tree_digest.update(data)
        try:
            tree = ast.parse(data, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            why = type(e).__name__ + (": " + e.msg if isinstance(e, SyntaxError) else "")
            result["unparsed"].append({"file": path, "why": why})
            continue
        for pattern, line, form in findings(tree):
            result["findings"].append({"pattern": pattern, "file": path, "line": line,
                                       "form": form})
    result["findings"].sort(key=lambda f: (f["file"], f["line"], f["pattern"], f["form"]))
    result["tree_sha256"] = tree_digest.hexdigest()
    return result


def main():
    warnings.simplefilter("ignore")  # SyntaxWarning of invalid escapes in scanned files
    sys.setrecursionlimit(10000)
    for source in json.load(sys.stdin):
        sys.stdout.write(json.dumps(scan(source), sort_keys=True, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
