"""Judging assert tests so that the code under test cannot forge its verdict.

The candidate's code and the tests never share a process. A round of judging is two sandboxed runs:

1. **The judge** runs the tests (and trusted code they need: a prompt's helpers, set-up code) with a
   stand-in for each tested function, and no candidate code. A call whose result is known returns that
   result (or raises the exception it raised); an unknown call is recorded and returns a placeholder
   that lets the test run on, so that later independent calls get recorded too. Each statement of the
   tests runs in a guard: once a placeholder was handed out, the test's failures are speculative and
   ignored, and the test's verdict is left pending.
2. **The candidate** runs its code, then each recorded call, and returns the results as plain data
   (:mod:`archon.sandbox.plain`): anything else fails the call.

Rounds repeat until no test is pending: usually the second judge run decides (three runs in all);
calls whose arguments depend on earlier results take one more round each. The judge's verdict is read
only from the judge's run, which holds no candidate code; what the candidate may influence is only the
plain values it returns. Calls are matched by the function's name and arguments, and a list, dict or
set argument the candidate changed in place is changed the same way in the judge. A tested function
that returns an object of its own (a class instance) fails: it cannot cross as plain data.
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import ExecutionResult, SandboxLimits
from .plain import NotPlain, decode
from .run import arun_python

__all__ = ["AssertVerdict", "ajudge_asserts", "called_names"]

MAX_ROUNDS = 6
_PLAIN_SOURCE = (Path(__file__).parent / "plain.py").read_text()


def called_names(tests: Sequence[str]) -> list[str]:
    """The functions the asserts call (``assert add(1, 2) == 3`` -> ``add``), builtins and methods left out."""
    names = re.findall(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", "\n".join(tests))
    return list(dict.fromkeys(n for n in names if not keyword.iskeyword(n) and not hasattr(builtins, n)))


@dataclass
class AssertVerdict:
    """Which tests passed. ``status`` says how judging ended: ``passed`` (every test), ``failed`` (a
    test failed; a call whose result is not plain data fails with ``TypeError`` in the judge),
    ``exited_early`` (the candidate's program ended before returning its results), ``undecided`` (calls still depending
    on others after the last round), or the status of a candidate run that did not finish (``timeout``,
    ``memory``, ``output_limit``, ``error``). ``run`` is the run that decided it; ``runs`` counts them."""

    passed: list[bool]
    status: str
    run: ExecutionResult
    runs: int
    detail: str = ""
    calls: int = field(default=0)


# The candidate's side: its code, then the recorded calls. Its own prints go to stderr; the results
# go to the original stdout, as one JSON document.
_CANDIDATE = (
    _PLAIN_SOURCE
    + r"""
import json as _json, os as _os, sys as _sys
_archon_out = _os.dup(1)
_os.dup2(2, 1)
_archon_spec = _json.loads(_sys.stdin.read())
_archon_globals = {"__name__": "__main__", "__builtins__": __builtins__}
exec(compile(_archon_spec["code"], "solution.py", "exec"), _archon_globals)
_archon_results = []
for _name, _args in _archon_spec["calls"]:
    _function = _archon_globals.get(_name)
    if not callable(_function):
        _archon_results.append({"raise": "NameError", "message": f"name {_name!r} is not defined"})
        continue
    try:
        _a, _kw = decode(_args)
        _value = _function(*_a, **_kw)
    except Exception as _e:
        _archon_results.append({"raise": type(_e).__name__, "message": str(_e)[:200]})
        continue
    try:
        _archon_results.append({"value": encode(_value), "args": encode([_a, _kw])})
    except NotPlain as _e:
        _archon_results.append({"not_plain": str(_e)[:200]})
_os.write(_archon_out, _json.dumps(_archon_results).encode())
"""
)

# The judge's side: trusted code and the tests, with stand-ins; no candidate code.
_JUDGE = (
    _PLAIN_SOURCE
    + r'''
import ast as _ast, builtins as _builtins, json as _json, linecache as _linecache, os as _os, random as _random, sys as _sys, traceback as _tb
_archon_out = _os.dup(1)
_os.dup2(2, 1)
_spec = _json.loads(_sys.stdin.read())
_known = {_json.dumps(k, sort_keys=True): v for k, v in _spec["known"]}
_unknown, _seen = [], set()
_state = {"pending": False, "ticks": 0}
_MAX_TICKS = 200_000


class _GiveUp(BaseException):
    pass


def _tick():
    _state["ticks"] += 1
    if _state["ticks"] > _MAX_TICKS:
        raise _GiveUp()


def _archon_speculating():
    """In a statement's guard: whether to ignore the failure (a placeholder is about)."""
    if not _state["pending"]:
        return False
    _tick()
    return True


class _Pending:
    """An unknown result: every operation gives another, and it is true, so the test runs on."""
    def _op(self, *args, **kwargs):
        _tick()
        return self
    for _n in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift neg pos abs invert "
               "radd rsub rmul rtruediv rfloordiv rmod rpow rand ror rxor eq ne lt le gt ge getitem call "
               "getattr round floor ceil trunc").split():
        locals()["__" + _n + "__"] = _op
    del _n
    def __bool__(self):
        _tick()
        return True
    def __iter__(self):
        _tick()
        return iter(())
    def __len__(self):
        return 0
    def __hash__(self):
        return 0
    def __index__(self):
        return 0
    __int__ = __index__
    def __float__(self):
        return 0.0
    def __contains__(self, item):
        return True
    def __repr__(self):
        return "<pending>"


_PENDING = _Pending()


def _exception(name, message):
    cls = getattr(_builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = type(name, (Exception,), {})
    return cls(message)


def _update(original, changed):
    t = type(original)
    if t is list:
        original[:] = changed
    elif t is dict or t is set:
        original.clear()
        original.update(changed)


def _stand_in(name):
    def call(*args, **kwargs):
        try:
            encoded = encode([list(args), kwargs])
        except NotPlain:
            if _state["pending"]:
                _tick()
                return _PENDING  # arguments made from a placeholder
            raise TypeError(f"{name}: the test passes arguments that are not plain data")
        key = _json.dumps([name, encoded], sort_keys=True)
        result = _known.get(key)
        if result is None:
            if key not in _seen:
                _seen.add(key)
                _unknown.append([name, encoded])
            _state["pending"] = True
            _tick()
            return _PENDING
        if "raise" in result:
            raise _exception(result["raise"], result.get("message", ""))
        new_args, new_kwargs = decode(result["args"])
        for old, new in zip(list(args) + list(kwargs.values()), new_args + list(new_kwargs.values())):
            _update(old, new)
        return decode(result["value"])
    call.__name__ = name
    return call


def _guard(stmt):
    handler = _ast.ExceptHandler(type=_ast.Name("BaseException", _ast.Load()), name=None, body=[
        _ast.If(test=_ast.UnaryOp(_ast.Not(), _ast.Call(_ast.Name("_archon_speculating", _ast.Load()), [], [])),
                body=[_ast.Raise()], orelse=[])])
    return _ast.Try(body=[stmt], handlers=[handler], orelse=[], finalbody=[])


class _Guards(_ast.NodeTransformer):
    def generic_visit(self, node):
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            stmts = getattr(node, name, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], _ast.stmt):
                setattr(node, name, [s if isinstance(s, (_ast.Global, _ast.Nonlocal)) or
                                     (isinstance(s, _ast.ImportFrom) and s.module == "__future__") else _guard(s)
                                     for s in stmts])
        return node


_globals = {"__name__": "__main__", "__builtins__": __builtins__, "_archon_speculating": _archon_speculating}
exec(compile(_spec["prelude"], "prelude.py", "exec"), _globals)
for _name in _spec["functions"]:
    _globals[_name] = _stand_in(_name)
_verdicts = []
_detail = ""
for _i, _test in enumerate(_spec["tests"]):
    _state["pending"], _state["ticks"] = False, 0
    _random.seed(0)  # the same arguments in every round
    _linecache.cache[f"test_{_i}.py"] = (len(_test), None, _test.splitlines(True), f"test_{_i}.py")
    try:
        _tree = _ast.fix_missing_locations(_Guards().visit(_ast.parse(_test)))
        exec(compile(_tree, f"test_{_i}.py", "exec"), _globals)
        _ok = True
    except BaseException as _e:
        _ok = False
        if not _state["pending"] and not _detail:
            _detail = "".join(_tb.format_exception(_e))
    _verdicts.append("pending" if _state["pending"] else "pass" if _ok else "fail")
_sys.stderr.write(_detail)
_os.write(_archon_out, _json.dumps({"verdicts": _verdicts, "unknown": _unknown}).encode())
'''  # noqa: E501 - the judge's program, run as written
)


def _output(result: ExecutionResult) -> object:
    """The JSON value a program printed, or None; the caller checks its shape."""
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _check_result(result: object) -> str | None:
    """What is wrong with one of the candidate's results, if anything: it must be plain data."""
    if not isinstance(result, dict):
        return "a malformed result"
    if "not_plain" in result:
        return f"returned something that is not plain data ({result['not_plain']})"
    if "raise" in result:
        return None if isinstance(result["raise"], str) and isinstance(result.get("message", ""), str) else "bad error"
    try:
        decode(result["value"])
        args = decode(result["args"])
    except (KeyError, NotPlain) as e:
        return f"a result that is not plain data ({e})"
    return None if type(args) is list and len(args) == 2 else "bad arguments"


async def ajudge_asserts(
    candidate: str,
    tests: Sequence[str],
    functions: Sequence[str],
    *,
    prelude: str = "",
    setup: str = "",
    limits: SandboxLimits = SandboxLimits(),
    max_rounds: int = MAX_ROUNDS,
) -> AssertVerdict:
    """Judge ``candidate`` (a program defining ``functions``) by ``tests``, each a piece of Python that
    passes when it runs to its end. ``prelude`` is trusted code the tests need (it runs in the judge,
    before them; the candidate's program does not get it); ``setup`` runs in both, after the candidate's
    code. Nothing the candidate does, short of returning the right plain values, makes a test pass."""
    known: dict[str, tuple[list[Any], dict[str, Any]]] = {}  # json key -> ([name, args], result)
    runs = 0
    calls = 0
    judge_prelude = f"{prelude}\n\n{setup}\n"
    spec: dict[str, Any] = {"prelude": judge_prelude, "functions": list(functions), "tests": list(tests)}
    code = f"{candidate}\n\n{setup}\n"
    for _ in range(max_rounds + 1):
        spec["known"] = list(known.values())
        judged = await arun_python(_JUDGE, stdin=json.dumps(spec), limits=limits)
        runs += 1
        out = _output(judged)
        if not isinstance(out, dict):  # the judge itself failed: the tests are broken, or too slow
            return AssertVerdict(
                [False] * len(tests),
                judged.status if judged.status != "passed" else "failed",
                judged,
                runs,
                judged.stderr,
                calls,
            )
        verdicts = out["verdicts"]
        if "pending" not in verdicts:
            passed = [v == "pass" for v in verdicts]
            return AssertVerdict(passed, "passed" if all(passed) else "failed", judged, runs, judged.stderr, calls)
        unknown = [c for c in out["unknown"] if json.dumps(c, sort_keys=True) not in known]
        if not unknown or runs > 2 * max_rounds:
            break
        ran = await arun_python(_CANDIDATE, stdin=json.dumps({"code": code, "calls": unknown}), limits=limits)
        runs += 1
        calls += len(unknown)
        results = _output(ran)
        if ran.status != "passed" and not isinstance(results, list):
            return AssertVerdict([False] * len(tests), ran.status, ran, runs, ran.stderr, calls)
        if not isinstance(results, list) or len(results) != len(unknown):
            return AssertVerdict(
                [False] * len(tests),
                "exited_early",
                ran,
                runs,
                "the program ended before returning its results (e.g. sys.exit() or unittest.main())",
                calls,
            )
        for call, result in zip(unknown, results):
            problem = _check_result(result)
            if problem:  # that call fails in the judge; tests without it may still pass
                result = {"raise": "TypeError", "message": f"{call[0]}() {problem}"}
            known[json.dumps(call, sort_keys=True)] = (call, result)
    return AssertVerdict(
        [False] * len(tests),
        "undecided",
        judged,
        runs,
        "calls whose arguments depend on earlier results were still unresolved",
        calls,
    )
