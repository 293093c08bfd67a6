"""The config loader: merging files, and every bad input a user makes, with its exact message and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskctl.config import load_config
from taskctl.config.models import CatchUp, OnFailure, Overlap
from taskctl.errors import ConfigError
from taskctl.workspace import Workspace
from tests.conftest import write


def problems(ws: Workspace) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(ws)
    return [p.render() for p in caught.value.problems]


def script(ws: Workspace, thread: str, name: str = "main.py") -> Path:
    return write(ws.thread_dir(thread) / name, "print('hi')\n")


def test_threads_and_processes_merge_across_files_and_inherit_defaults(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    script(ws, "fetch")
    write(
        ws.config_dir / "taskctl.yaml",
        "timezone: America/New_York\ndefaults: {overlap: queue, timeout: 5m}\n",
    )
    write(ws.config_dir / "threads.yaml", "threads:\n  fetch: {}\n  shell:\n    command: echo hi\n")
    write(ws.config_dir / "team/processes.yml", "processes:\n  nightly:\n    threads: [fetch, shell]\n")

    config = load_config(ws)

    assert sorted(config.threads) == ["fetch", "shell"]
    assert config.threads["fetch"].kind == "script"
    assert config.threads["shell"].kind == "command"
    nightly = config.processes["nightly"]
    assert nightly.overlap is Overlap.QUEUE
    assert nightly.catch_up is CatchUp.LATEST
    assert nightly.on_failure is OnFailure.STOP
    assert config.zone_of("nightly").key == "America/New_York"
    assert config.thread_timeout("fetch") == 300.0
    assert config.files == ["config/taskctl.yaml", "config/team/processes.yml", "config/threads.yaml"]
    assert config.origins[("processes", "nightly")].line == 2


def test_the_revision_changes_when_any_file_changes(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "a.yaml", "threads:\n  hello:\n    code: print(1)\n")
    before = load_config(ws).revision
    write(ws.config_dir / "a.yaml", "threads:\n  hello:\n    code: print(2)\n")
    assert load_config(ws).revision != before


def test_an_empty_config_folder_is_a_valid_empty_config(empty_workspace: Workspace) -> None:
    config = load_config(empty_workspace)
    assert config.threads == {} and config.processes == {}


def test_unknown_keys_are_errors_with_a_suggestion(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    script(ws, "a")
    write(
        ws.config_dir / "threads.yaml",
        "threads:\n  a:\n    scirpt: main.py\n    retries: {count: 1, dealy: 5s}\n",
    )
    assert problems(ws) == [
        "config/threads.yaml:3: threads.a: unknown key 'scirpt' (did you mean 'script'?)",
        "config/threads.yaml:4: threads.a.retries: unknown key 'dealy' (did you mean 'delay'?)",
    ]


def test_unknown_key_far_from_any_valid_one_lists_the_valid_keys(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "p.yaml",
        "processes:\n  p:\n    threads: [x]\n    zzz: 1\nthreads:\n  x: {code: '1'}\n",
    )
    assert problems(ws) == [
        "config/p.yaml:4: processes.p: unknown key 'zzz' (valid keys: catch_up, description, enabled, "
        "max_instances, misfire_grace, notify, on_failure, overlap, retention, schedule, tags, threads, timeout, "
        "timezone)"
    ]


def test_top_level_typos_and_misplaced_settings(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "a.yaml", "proceses: {}\ntimezone: Europe/Berlin\n")
    assert problems(ws) == [
        "config/a.yaml:1: proceses: unknown key 'proceses' (did you mean 'processes'?)",
        "config/a.yaml:2: timezone: 'timezone' is a setting; move it to config/taskctl.yaml",
    ]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("../x", " (try 'x')"),
        ("Bad Name", " (try 'bad_name')"),
        ("UPPER", " (try 'upper')"),
        ("_hidden", " (try 'hidden')"),
        ("café", ""),
    ],
)
def test_names_that_cannot_be_folder_names_are_rejected(
    empty_workspace: Workspace, name: str, hint: str
) -> None:
    ws = empty_workspace
    write(ws.config_dir / "t.yaml", f'threads:\n  "{name}":\n    code: print(1)\n')
    assert problems(ws) == [
        f"config/t.yaml:2: threads.{name}: '{name}' is not a valid name: use lower-case letters, digits, '_' and "
        f"'-', starting with a letter or digit{hint}"
    ]


def test_a_name_declared_in_two_files_names_both(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "a.yaml", "threads:\n  hello:\n    code: print(1)\n")
    write(ws.config_dir / "b.yaml", "\nthreads:\n  hello:\n    code: print(2)\n")
    assert problems(ws) == [
        "config/b.yaml:3: threads.hello: 'hello' is already declared in config/a.yaml:2; rename one of them"
    ]


def test_a_key_twice_in_one_mapping_is_an_error(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "a.yaml", "threads:\n  hello:\n    code: print(1)\n    code: print(2)\n")
    assert problems(ws) == [
        "config/a.yaml:4: threads.hello.code: key 'code' appears twice in this mapping (first on line 3); keep one"
    ]


def test_a_process_naming_a_missing_thread(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "a.yaml",
        "threads:\n  fetch: {code: '1'}\nprocesses:\n  p:\n    threads:\n      - fetch\n      - fetc\n      - zzz\n",
    )
    assert problems(ws) == [
        "config/a.yaml:7: processes.p.threads[1]: no thread named 'fetc' (did you mean 'fetch'?)",
        "config/a.yaml:8: processes.p.threads[2]: no thread named 'zzz'; declare it under 'threads:'",
    ]


def test_an_invalid_thread_is_not_also_reported_as_missing(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "a.yaml",
        "threads:\n  fetch: {code: '1', timeout: soon}\nprocesses:\n  p: {threads: [fetch]}\n",
    )
    assert problems(ws) == [
        "config/a.yaml:2: threads.fetch.timeout: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)"
    ]


def test_missing_script_and_input_files(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    script(ws, "scrape")
    write(
        ws.config_dir / "a.yaml",
        "threads:\n"
        "  nofile: {}\n"
        "  named:\n    script: run.py\n"
        "  scrape:\n    type: scraping\n    input: links.csv\n"
        "  noinput:\n    type: scraping\n    code: print(1)\n"
        "  escape:\n    script: ../../etc/passwd\n",
    )
    assert problems(ws) == [
        "config/a.yaml:2: threads.nofile: script threads/nofile/main.py does not exist; create it or set 'script:'",
        "config/a.yaml:4: threads.named.script: script threads/named/run.py does not exist; "
        "create it or set 'script:'",
        "config/a.yaml:7: threads.scrape.input: input threads/scrape/links.csv does not exist; "
        "add the CSV or fix the path",
        "config/a.yaml:8: threads.noinput: a scraping thread needs 'input:', the CSV of links it works from (or {skus: QUERY})",
        "config/a.yaml:12: threads.escape.script: '../../etc/passwd' must be a path inside threads/escape/",
    ]


def test_a_thread_may_run_only_one_of_script_command_code_func_and_test(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "a.yaml",
        "threads:\n  both:\n    command: [echo]\n    code: print(1)\n"
        "  checks:\n    func: 'checks:run'\n    test: tests/\n",
    )
    assert problems(ws) == [
        "config/a.yaml:4: threads.both.code: a thread runs one of script, command, code, func or test, but "
        "this one sets command and code; keep one",
        "config/a.yaml:7: threads.checks.test: a thread runs one of script, command, code, func or test, but "
        "this one sets func and test; keep one",
    ]


def test_bad_values_name_what_would_be_valid(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "a.yaml",
        "threads:\n  t:\n    code: '1'\n    type: scrapping\n    retries: {count: -1}\n"
        "processes:\n  p:\n    threads: [t]\n    on_failure: halt\n    overlap: Skip\n    enabled: maybe\n"
        "    max_instances: many\n  q:\n    threads: []\n",
    )
    assert problems(ws) == [
        "config/a.yaml:4: threads.t.type: 'scrapping' is not valid (did you mean 'scraping'?)",
        "config/a.yaml:5: threads.t.retries.count: -1 is out of range (must be at least 0)",
        "config/a.yaml:9: processes.p.on_failure: 'halt' is not valid (use stop or continue)",
        "config/a.yaml:10: processes.p.overlap: 'Skip' is not valid (did you mean 'skip'?)",
        "config/a.yaml:11: processes.p.enabled: 'maybe' is not true or false",
        "config/a.yaml:12: processes.p.max_instances: 'many' is not a whole number",
        "config/a.yaml:14: processes.q.threads: a process must name at least one thread",
    ]


def test_settings_errors(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "taskctl.yaml",
        "timezone: Europe/Berln\nmax_parallel_runs: 0\ndefaults:\n  catch_up: everything\n"
        "notify:\n  ops: {url: ftp://x}\n",
    )
    assert problems(ws) == [
        "config/taskctl.yaml:1: timezone: 'Europe/Berln' is not an IANA time zone (use a name like Europe/Berlin "
        "or America/New_York)",
        "config/taskctl.yaml:2: max_parallel_runs: 0 is out of range (must be at least 1)",
        "config/taskctl.yaml:4: defaults.catch_up: 'everything' is not valid (use none, latest or all)",
        "config/taskctl.yaml:6: notify.ops.url: 'ftp://x' is not an http(s) URL",
    ]


def test_a_process_may_only_notify_declared_targets(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "taskctl.yaml",
        "notify:\n  ops: {url: 'https://hooks.example.com/x', on: [failure]}\n",
    )
    write(
        ws.config_dir / "a.yaml",
        "threads:\n  t: {code: '1'}\nprocesses:\n  p:\n    threads: [t]\n    notify: [ops, dev]\n",
    )
    assert problems(ws) == [
        "config/a.yaml:6: processes.p.notify[1]: no notify target named 'dev' in config/taskctl.yaml (known: ops)"
    ]


def test_yaml_syntax_errors_name_the_line_and_hint_at_quoting(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "a.yaml", "processes:\n  p:\n    threads: [t]\n    schedule:\n      - */15 * * * *\n"
    )
    write(ws.config_dir / "b.yaml", "threads:\n  t:\n\tcode: 1\n")
    found = problems(ws)
    assert found[0].startswith("config/a.yaml:5: invalid YAML: ")
    assert found[0].endswith("(values starting with '*' must be quoted, e.g. \"*/15 * * * *\")")
    assert found[1].startswith("config/b.yaml:3: invalid YAML: ")
    assert found[1].endswith("(YAML does not allow tabs for indentation; use spaces)")


def test_yaml_11_words_stay_text(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "taskctl.yaml",
        "notify:\n  ops:\n    url: https://hooks.example.com/x\n    on: [failure]\n",
    )
    write(ws.config_dir / "a.yaml", "threads:\n  t:\n    code: '1'\n    env: {FLAG: yes, N: 3}\n")
    config = load_config(ws)
    assert config.threads["t"].env == {"FLAG": "yes", "N": "3"}
    assert config.settings.notify["ops"].on == ["failure"]


def test_a_file_that_is_not_a_mapping(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "a.yaml", "- just\n- a list\n")
    write(ws.config_dir / "b.yaml", "threads: [a, b]\n")
    assert problems(ws) == [
        "config/a.yaml:1: must be a mapping with 'threads:' and/or 'processes:' at the top",
        "config/b.yaml:1: threads: must be a mapping of names to threads (a list given)",
    ]


def test_every_problem_is_reported_at_once_sorted_by_file_and_line(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "b.yaml", "threads:\n  x: {code: '1', timeout: never}\n")
    write(ws.config_dir / "a.yaml", "processes:\n  p: {threads: [nope]}\n")
    assert [p.split(":")[0] + ":" + p.split(":")[1] for p in problems(ws)] == [
        "config/a.yaml:2",
        "config/b.yaml:2",
    ]


def test_a_scheduled_thread_may_not_share_a_name_with_a_process(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "threads.yaml",
        "threads:\n  nightly:\n    code: print(1)\n    schedule: daily at 06:00\n",
    )
    write(ws.config_dir / "processes.yaml", "processes:\n  nightly:\n    threads: [nightly]\n")
    assert problems(ws) == [
        "config/processes.yaml:2: processes.nightly: 'nightly' is also a thread (config/threads.yaml:2), which "
        "runs alone as a process of the same name (its runs go to process/nightly/); rename one of them"
    ]


def test_a_thread_without_schedule_may_not_share_a_name_with_a_process_either(
    empty_workspace: Workspace,
) -> None:
    # `thread run summary` ran the process `summary`, and both kinds of run landed in process/summary/.
    ws = empty_workspace
    write(
        ws.config_dir / "threads.yaml",
        "threads:\n  fetch:\n    code: print(1)\n  summary:\n    code: print(2)\n",
    )
    write(ws.config_dir / "processes.yaml", "processes:\n  summary:\n    threads: [fetch, summary]\n")
    assert problems(ws) == [
        "config/processes.yaml:2: processes.summary: 'summary' is also a thread (config/threads.yaml:4), which "
        "runs alone as a process of the same name (its runs go to process/summary/); rename one of them"
    ]


def test_an_invalid_process_still_has_its_schedules_and_notify_targets_checked(
    empty_workspace: Workspace,
) -> None:
    ws = empty_workspace
    write(ws.config_dir / "threads.yaml", "threads:\n  fetch:\n    code: print(1)\n")
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n"
        "  nightly:\n"
        "    threads: []\n"
        "    schedule: dayly at 10:30\n"
        "    notify: [ops]\n"
        "  hourly:\n"
        "    threads: [fetch]\n"
        "    timeout: soon\n"
        "    schedule: ['every 6 hours', 'hourly at 5']\n",
    )
    assert problems(ws) == [
        "config/processes.yaml:3: processes.nightly.threads: a process must name at least one thread",
        "config/processes.yaml:4: processes.nightly.schedule[0]: 'dayly at 10:30' is not a schedule (try 'daily at 10:30')",
        "config/processes.yaml:5: processes.nightly.notify[0]: no notify target named 'ops' in config/taskctl.yaml (known: none yet)",
        "config/processes.yaml:8: processes.hourly.timeout: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)",
        "config/processes.yaml:9: processes.hourly.schedule[1]: " + problems_of_schedule("hourly at 5"),
    ]


def test_an_invalid_scheduled_thread_still_has_its_schedules_checked_in_its_own_zone(
    empty_workspace: Workspace,
) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "threads.yaml",
        "threads:\n"
        "  fetch:\n"
        "    code: print(1)\n"
        "    retries: many\n"
        "    timezone: Europe/Berlin\n"
        "    schedule: 2027-03-28 02:30\n",
    )
    assert [p.split(": ", 2)[1] for p in problems(ws)] == [
        "threads.fetch.retries",
        "threads.fetch.schedule[0]",
    ]


def test_an_invalid_thread_still_has_its_script_checked(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "threads.yaml", "threads:\n  fetch:\n    timeout: soon\n  typo:\n    script: 42\n")
    assert problems(ws) == [
        "config/threads.yaml:2: threads.fetch: script threads/fetch/main.py does not exist; create it or set 'script:'",
        "config/threads.yaml:3: threads.fetch.timeout: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)",
        "config/threads.yaml:5: threads.typo.script: 42 is not text (quote it)",
    ]


def problems_of_schedule(spec: str) -> str:
    """The message a schedule alone gets, to compare with the one an invalid entry gets."""
    from taskctl.schedule import ScheduleError, parse_schedule

    with pytest.raises(ScheduleError) as caught:
        parse_schedule(spec)
    return str(caught.value)


def test_a_misspelt_schedule_names_its_file_line_and_index(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "threads.yaml", "threads:\n  t:\n    code: print(1)\n")
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  nightly:\n    threads: [t]\n    schedule:\n"
        "      - '30 2 * * *'\n      - every 6 hours\n      - dayly at 10:30\n      - '0 0 31 2 *'\n",
    )
    assert problems(ws) == [
        "config/processes.yaml:7: processes.nightly.schedule[2]: 'dayly at 10:30' is not a schedule (try 'daily at 10:30')",
        "config/processes.yaml:8: processes.nightly.schedule[3]: '0 0 31 2 *' can never fire (February has no day 31)",
    ]


def test_a_one_shot_in_the_skipped_hour_of_the_process_zone_needs_an_offset(
    empty_workspace: Workspace,
) -> None:
    ws = empty_workspace
    write(ws.config_dir / "threads.yaml", "threads:\n  t:\n    code: print(1)\n")
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  p:\n    threads: [t]\n    timezone: Europe/Berlin\n    schedule: ['2027-03-28 02:30']\n"
        "  q:\n    threads: [t]\n    timezone: Europe/Berlin\n    schedule: ['2027-03-28 02:30+01:00']\n",
    )
    assert problems(ws) == [
        "config/processes.yaml:5: processes.p.schedule[0]: '2027-03-28 02:30' does not exist in Europe/Berlin "
        "(clocks jump from 02:00 to 03:00); pick another time or add an offset, e.g. '2027-03-28 02:30+01:00'"
    ]


def test_the_same_one_shot_is_valid_in_a_zone_without_that_gap(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "threads.yaml", "threads:\n  t:\n    code: print(1)\n")
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  p:\n    threads: [t]\n    timezone: Asia/Tokyo\n    schedule: ['2027-03-28 02:30']\n",
    )
    assert [s.text for s in load_config(ws).schedules["p"]] == ["2027-03-28 02:30"]


def test_config_paths_that_are_not_regular_files_are_errors_naming_them(empty_workspace: Workspace) -> None:
    import os

    ws = empty_workspace
    os.mkfifo(ws.config_dir / "taskctl.yaml")
    (ws.config_dir / "old.yaml").mkdir()
    (ws.config_dir / "team").mkdir()
    (ws.config_dir / "team/threads.yaml").symlink_to("../../shared/threads.yaml")
    assert problems(ws) == [
        "config/old.yaml: is a folder, not a file; rename it so that it does not end in .yaml",
        "config/taskctl.yaml: is a named pipe (FIFO), not a regular file; replace it with a YAML file or remove it",
        "config/team/threads.yaml: is a link to '../../shared/threads.yaml', which does not exist; fix the link "
        "or remove it",
    ]


def test_yaml_11_differences_are_warnings_or_errors_of_the_config(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "a.yaml", "threads:\n  t:\n    code: x\n    env: {AT: 10:30}\n")
    config = load_config(ws)
    assert config.threads["t"].env == {"AT": "10:30"}
    assert [w.render() for w in config.warnings] == [
        "config/a.yaml:4: threads.t.env.AT: 10:30 is read as the text '10:30', but YAML 1.1 tools read it as the "
        'number 630; quote it ("10:30") so that every tool reads the same'
    ]
    write(ws.config_dir / "a.yaml", "threads:\n  t:\n    code: x\n    retries: {count: 010}\n")
    assert problems(ws) == [
        "config/a.yaml:4: threads.t.retries.count: 010 means the number 10 in YAML 1.2 but the number 8 in YAML 1.1; "
        'write 10 for the number or "010" for the text'
    ]


def test_a_disabled_thread_stops_only_its_own_schedule(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "a.yaml",
        "threads:\n  t:\n    code: x\n    enabled: false\n    schedule: daily at 06:00\n"
        "processes:\n  p:\n    threads: [t]\n  off:\n    threads: [t]\n    enabled: false\n",
    )
    config = load_config(ws)
    assert config.threads["t"].enabled is False
    assert config.processes["t"].enabled is False  # the scheduled thread's own process
    assert [w.render() for w in config.warnings] == [
        "config/a.yaml:8: processes.p.threads[0]: thread 't' is disabled, but this process still runs it (a "
        "disabled thread only stops its own schedule); disable the process or remove the thread from it"
    ]


# -- thread kinds func and test, SKU input and output --------------------------------------------------


def test_func_test_sku_input_and_output_load(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    script(ws, "reviews")
    write(ws.thread_dir("nightly_tests") / "tests" / "test_x.py", "def test_x(): pass\n")
    write(
        ws.config_dir / "threads.yaml",
        "threads:\n"
        "  reviews:\n"
        "    type: scraping\n"
        "    input: {skus: {base_sku: B07, min_rating: 0, stale: 7d}, required: true}\n"
        "    output: {file: results.csv, into_skus: skip}\n"
        "  health:\n"
        "    func: 'monitoring.checks:check_api'\n"
        "    args: [1, two, [3]]\n"
        "    kwargs: {url: 'http://127.0.0.1:8000/', timeout: 5, deep: {ok: true}}\n"
        "  nightly_tests:\n"
        "    test: tests/\n"
        "    args: ['-k', 'x']\n"
        "  everything:\n"
        "    code: print(1)\n"
        "    input: {skus: }\n",
    )
    config = load_config(ws)
    reviews = config.threads["reviews"]
    assert reviews.sku_input is not None and reviews.input_file is None
    assert (reviews.sku_input.skus.base_sku, reviews.sku_input.skus.stale, reviews.sku_input.required) == (
        "B07",
        7 * 86400.0,
        True,
    )
    assert (reviews.output and (reviews.output.file, str(reviews.output.into_skus))) == (
        "results.csv",
        "skip",
    )
    health = config.threads["health"]
    assert (health.kind, health.args, health.kwargs["deep"]) == ("func", [1, "two", [3]], {"ok": True})
    assert config.threads["nightly_tests"].kind == "test"
    assert config.threads["everything"].sku_input is not None
    assert config.threads["everything"].sku_input.skus.limit is None


def test_new_thread_keys_are_checked_with_file_line_and_key(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    script(ws, "a")
    write(
        ws.config_dir / "t.yaml",
        "threads:\n"
        "  a:\n"
        "    input: {skus: {limt: 3, unrated: true, min_rating: 4}}\n"
        "    output: {file: ../results.csv, into_skus: merge}\n"
        "    args: [--pages, 3]\n"
        "    kwargs: {x: 1}\n"
        "  f:\n"
        "    func: checks.check_api\n"
        "    kwargs: {when: !!timestamp 2026-01-01}\n"
        "  t:\n"
        "    test: ../elsewhere\n"
        "  u:\n"
        "    test: tests/\n"
        "  v:\n"
        "    code: '1'\n"
        "    input: 3\n"
        "  w:\n"
        "    code: '1'\n"
        "    input: {skus: {stale: soon}}\n",
    )
    assert problems(ws) == [
        "config/t.yaml:3: threads.a.input.skus: unknown key 'limt' (did you mean 'limit'?)",
        "config/t.yaml:4: threads.a.output.into_skus: 'merge' is not valid (use update, skip or error)",
        "config/t.yaml:8: threads.f.func: 'checks.check_api' is not 'module:callable' (e.g. 'checks:check_api' "
        "for a function check_api in threads/f/checks.py)",
        "config/t.yaml:9: threads.f.kwargs.when: 2026-01-01 is a date, not a plain value (quote it to pass it as "
        "text)",
        "config/t.yaml:11: threads.t.test: '../elsewhere' must be a path inside threads/t/",
        "config/t.yaml:13: threads.u.test: threads/u/tests/ does not exist; add the tests or fix the path",
        "config/t.yaml:16: threads.v.input: 3 is not an input (give a CSV file in the thread's folder, or "
        "{skus: QUERY})",
        "config/t.yaml:19: threads.w.input.skus.stale: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, "
        "1h30m)",
    ]
    write(
        ws.config_dir / "t.yaml",
        "threads:\n"
        "  a:\n"
        "    input: {skus: {unrated: true}}\n"
        "    output: {file: ../results.csv}\n"
        "    args: [--pages, 3]\n"
        "    kwargs: {x: 1}\n"
        "  b:\n"
        "    code: '1'\n"
        "    input: {skus: {unrated: true, min_rating: 4}}\n",
    )
    assert problems(ws) == [
        "config/t.yaml:4: threads.a.output.file: '../results.csv' must be a file name in the run folder (like "
        "results.csv), without '..' or a leading '/'",
        "config/t.yaml:5: threads.a.args[1]: 3 is not text (quote it)",
        "config/t.yaml:6: threads.a.kwargs: 'kwargs' are for 'func:' threads; this thread runs a script",
        "config/t.yaml:9: threads.b.input.skus: 'unrated' and 'min_rating' exclude each other; keep one of them",
    ]


def test_the_schema_describes_func_test_input_and_output() -> None:
    from taskctl.config.spec import config_json_schema

    thread = config_json_schema()["$defs"]["ThreadConfig"]["properties"]
    assert {"func", "test", "input", "output", "kwargs"} <= set(thread)
    assert thread["input"]["anyOf"][0]["oneOf"] == [{"type": "string"}, {"$ref": "#/$defs/SkuInput"}]
