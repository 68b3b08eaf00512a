"""The JSON line every reporting tool ends with (`cli.report_json_line`)."""

import json

from sdn_tf import cli


def test_report_json_line_prints_and_writes_the_same_line(tmp_path, capsys):
  out = tmp_path / "report.json"
  value = {"b": 1, "a": [0.5, "ü"]}

  line = cli.report_json_line(value, str(out), sort_keys=True)

  printed = capsys.readouterr().out
  assert printed == line + "\n"
  assert json.loads(printed) == value
  assert list(json.loads(printed)) == ["a", "b"]  # sorted on request
  assert out.read_text() == line + "\n"
  assert not (tmp_path / "report.json.partial").exists()


def test_report_json_line_without_out_writes_no_file(tmp_path, capsys):
  cli.report_json_line({"x": 1}, None)
  cli.report_json_line({"x": 2}, "")
  assert capsys.readouterr().out.splitlines() == ['{"x": 1}', '{"x": 2}']
  assert list(tmp_path.iterdir()) == []
