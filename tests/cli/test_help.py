"""Every command's --help, as a user reads it: every command, positional argument and option explained."""

import argparse
import re
import subprocess
import sys

from archon.cli import build_parser


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"`archon {' '.join((*path, name))}` has no help line"
                yield from _commands(sub, (*path, name))


def test_every_help_explains_every_argument():
    commands = list(_commands(build_parser()))
    assert len(commands) > 6
    for path, parser in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "archon.cli", *path, "--help"],
            capture_output=True,
            text=True,
            env={"COLUMNS": "100", "PATH": "", "PYTHONPATH": ":".join(sys.path)},
        )
        assert proc.returncode == 0 and proc.stderr == "", (path, proc.stderr)
        assert proc.stdout.startswith("usage: archon"), path
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (path, action.option_strings or action.dest)
            shown = action.option_strings[0] if action.option_strings else (action.metavar or action.dest)
            assert shown in proc.stdout, (path, shown)


def test_run_help_shows_the_real_usage():
    proc = subprocess.run([sys.executable, "-m", "archon.cli", "run", "--help"], capture_output=True, text=True)
    usage = proc.stdout.split("\n\n")[0]
    assert usage == 'usage: archon run [options] [CONFIG] "PROMPT"'
    assert len(re.findall(r"PROMPT", usage)) == 1


def test_counts_are_in_the_right_number(tmp_path, capsys):
    import json

    from archon.cli import main

    one = tmp_path / "one.json"
    one.write_text(json.dumps({"name": "single", "layers": [[{"type": "generator"}]]}))
    assert main(["validate", str(one)]) == 0
    assert capsys.readouterr().out.startswith("single: 1 layer (generator)\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"layers": [[{"type": "generator"}], [{"type": "fuser", "use_critiques": True}]]}))
    assert main(["validate", str(bad)]) == 1
    assert "invalid: 1 error\n" in capsys.readouterr().out
