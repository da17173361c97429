"""The config file: waypoint.hcl and waypoint.hcl.json read into a Project, or a FILE:LINE error."""

from __future__ import annotations

import gc
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import attrs
import pytest
from hostile import harness
from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks import Duration, Policy
from waypoint_hooks.config import reader as _reader
from waypoint_hooks.config.document import MAX_CONFIG_BYTES, find_config, load_config
from waypoint_hooks.config.project import (
    DEFAULT_CONCURRENCY,
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    App,
    Project,
    StatusSettings,
    Use,
)
from waypoint_hooks.config.uses import check_plugins
from waypoint_hooks.errors import ConfigFileError
from waypoint_hooks.host import Plugin, PluginManager
from waypoint_hooks.model.durations import parse_duration

FULL_HCL = """\
project = "demo"

status {
  policy      = "waypoint"
  timeout     = "10s"
  concurrency = 4
  interval    = "5m"
}

app "web" {
  deploy {
    use "filepath" {
      directory = "out"
      content   = "hello"
    }
  }
  release {
    use "filepath" {}
  }
  status {
    policy         = "threshold"
    ready_fraction = 0.75
    ignore         = ["ingress", "job-*"]
  }
}

app "api" {
  deploy {
    use "filepath" {
      directory = "api"
    }
  }
}
"""

FULL_JSON = """\
{
  "project": "demo",
  "status": {"policy": "waypoint", "timeout": "10s", "concurrency": 4, "interval": "5m"},
  "app": {
    "web": {
      "deploy": {"use": {"filepath": {"directory": "out", "content": "hello"}}},
      "release": {"use": {"filepath": {}}},
      "status": {"policy": "threshold", "ready_fraction": 0.75, "ignore": ["ingress", "job-*"]}
    },
    "api": {
      "deploy": {"use": {"filepath": {"directory": "api"}}}
    }
  }
}
"""

MINIMAL_APP = """\
app "web" {
  deploy {
    use "filepath" {}
  }
}
"""


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Errors show paths relative to the working directory: "waypoint.hcl:3: ...".
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = "waypoint.hcl") -> Path:
    path = Path(name)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(text: str, name: str = "waypoint.hcl") -> ConfigFileError:
    path = write(text, name)
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return info.value


# --- a valid file --------------------------------------------------------------------------


def test_an_hcl_file_and_its_json_twin_give_equal_projects() -> None:
    from_hcl = load_config(write(FULL_HCL))
    from_json = load_config(write(FULL_JSON, "waypoint.hcl.json"))
    assert attrs.evolve(from_json, path=from_hcl.path) == from_hcl


def test_a_full_file_gives_the_project_it_describes(tmp_path: Path) -> None:
    # Lines are not compared (test_apps_and_use_blocks_carry_their_lines checks them).
    project = load_config(write(FULL_HCL))
    project_status = StatusSettings(Policy(), timeout=10.0, concurrency=4, interval=300.0)
    web_policy = Policy.from_options("threshold", ready_fraction=0.75, ignore=["ingress", "job-*"])
    assert project == Project(
        path=tmp_path.resolve() / "waypoint.hcl",
        name="demo",
        status=project_status,
        apps={
            "web": App(
                name="web",
                line=10,
                deploy=Use("filepath", {"directory": "out", "content": "hello"}, line=12),
                release=Use("filepath", {}, line=18),
                status=attrs.evolve(project_status, policy=web_policy),
            ),
            "api": App(
                name="api",
                line=27,
                deploy=Use("filepath", {"directory": "api"}, line=29),
                release=None,
                status=project_status,
            ),
        },
    )


def test_apps_and_use_blocks_carry_their_lines() -> None:
    project = load_config(write(FULL_HCL))
    web = project.apps["web"]
    assert (web.line, web.deploy.line, web.release and web.release.line) == (10, 12, 18)


def test_json_lines_are_those_of_the_keys() -> None:
    project = load_config(write(FULL_JSON, "waypoint.hcl.json"))
    assert (project.apps["web"].line, project.apps["web"].deploy.line) == (5, 6)


def test_apps_keep_the_file_order() -> None:
    assert list(load_config(write(FULL_HCL)).apps) == ["web", "api"]


def test_the_path_is_absolute(tmp_path: Path) -> None:
    assert load_config(write(FULL_HCL)).path == tmp_path.resolve() / "waypoint.hcl"


def test_without_status_blocks_the_defaults_apply() -> None:
    project = load_config(write('project = "demo"\n' + MINIMAL_APP))
    defaults = StatusSettings(Policy(), DEFAULT_TIMEOUT, DEFAULT_CONCURRENCY, DEFAULT_INTERVAL)
    assert project.status == project.apps["web"].status == defaults


def test_the_defaults_are_waypoints_policy_30s_16_checks_5m_and_1000_kept() -> None:
    assert (Policy(), 30.0, 16, 300.0, 1000) == attrs.astuple(StatusSettings(), recurse=False)[:5]


def test_the_report_limits_default_to_10000_resources_8_kib_64_kib_and_8_mib() -> None:
    limits = StatusSettings().limits
    assert attrs.astuple(limits) == (10_000, 8 * 1024, 64 * 1024, 8 * 1024 * 1024)


def test_the_report_limits_are_set_key_by_key_in_the_project_and_the_app() -> None:
    text = MINIMAL_APP.replace("  }\n}", "  }\n  status {\n    max_message_bytes = 2048\n  }\n}")
    project = load_config(write('project = "demo"\nstatus {\n  max_resources = 50\n}\n' + text))
    assert attrs.astuple(project.status.limits)[:2] == (50, 8 * 1024)
    assert attrs.astuple(project.apps["web"].status.limits)[:2] == (50, 2048)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_resources", "0", "max_resources: must be at least 1, got 0"),
        ("max_report_bytes", "100", "max_report_bytes: must be at least 1024, got 100"),
        ("max_state_json_bytes", '"64KiB"', "max_state_json_bytes: expected int, got str"),
    ],
)
def test_a_bad_report_limit_is_reported_at_its_line(key: str, value: str, message: str) -> None:
    error = error_of(f'project = "demo"\nstatus {{\n  {key} = {value}\n}}\n' + MINIMAL_APP)
    assert str(error).startswith(f"waypoint.hcl:3: {message}")


def test_an_app_without_a_status_block_takes_the_projects() -> None:
    project = load_config(write(FULL_HCL))
    assert project.apps["api"].status == project.status


def test_an_app_status_overrides_the_project_key_by_key() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            status {
              timeout     = "10s"
              concurrency = 4
              ignore      = ["job-*"]
            }
            app "web" {
              deploy {
                use "filepath" {}
              }
              status {
                timeout = "1m"
              }
            }
            """
        )
    )
    status = project.apps["web"].status
    assert (status.timeout, status.concurrency, status.policy.ignore) == (60.0, 4, ("job-*",))


def test_an_app_with_another_policy_does_not_inherit_the_project_policy_options() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            status {
              policy = "worst"
              order  = ["READY", "ALIVE", "UNKNOWN", "PARTIAL", "MISSING", "DOWN"]
              ignore = ["job-*"]
            }
            app "web" {
              deploy {
                use "filepath" {}
              }
              status {
                policy = "threshold"
              }
            }
            """
        )
    )
    assert project.apps["web"].status.policy == Policy.from_options("threshold", ignore=["job-*"])


def test_an_app_with_the_same_policy_inherits_its_options() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            status {
              policy         = "threshold"
              ready_fraction = 0.5
            }
            app "web" {
              deploy {
                use "filepath" {}
              }
              status {
                policy = "threshold"
                ignore = ["job-*"]
              }
            }
            """
        )
    )
    policy = project.apps["web"].status.policy
    assert (policy.name, policy.ready_fraction, policy.ignore) == ("threshold", 0.5, ("job-*",))


def test_an_app_min_ready_replaces_the_project_ready_fraction() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            status {
              policy         = "threshold"
              ready_fraction = 0.5
            }
            app "web" {
              deploy {
                use "filepath" {}
              }
              status {
                min_ready = 2
              }
            }
            """
        )
    )
    policy = project.apps["web"].status.policy
    assert (policy.ready_fraction, policy.min_ready) == (None, 2)


def test_build_and_registry_blocks_in_an_app_are_ignored() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            app "web" {
              build {
                use "docker" {
                  tag = gitrefpretty()
                }
                registry {
                  use "docker" {}
                }
              }
              registry {
                use "aws-ecr" {}
              }
              deploy {
                use "filepath" {}
              }
            }
            """
        )
    )
    assert project.apps["web"].deploy.plugin == "filepath"


def test_a_build_block_at_the_top_level_is_unknown() -> None:
    error = error_of('project = "demo"\nbuild {\n}\n' + MINIMAL_APP)
    assert str(error).startswith('waypoint.hcl:2: unknown key "build" at the top level')


def test_plugin_settings_keep_their_plain_values() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            app "web" {
              deploy {
                use "filepath" {
                  text    = "a \\"quoted\\" line\\n"
                  count   = 3
                  ratio   = 1.5
                  big     = 1e3
                  on      = true
                  nothing = null
                  doc     = <<-EOT
                    hello
                    EOT
                  list    = [1, "two"]
                  map     = { a = 1, "b c" = "d" }
                }
              }
            }
            """
        )
    )
    assert project.apps["web"].deploy.config == {
        "text": 'a "quoted" line\n',
        "count": 3,
        "ratio": 1.5,
        "big": 1000.0,
        "on": True,
        "nothing": None,
        "list": [1, "two"],
        "map": {"a": 1, "b c": "d"},
        "doc": "hello",
    }


def test_an_escaped_interpolation_is_a_literal_dollar_brace() -> None:
    text = 'project = "demo"\napp "web" {\n  deploy {\n    use "filepath" {\n'
    text += '      content = "$${HOME} and %%{x}"\n    }\n  }\n}\n'
    project = load_config(write(text))
    assert project.apps["web"].deploy.config == {"content": "${HOME} and %{x}"}


def test_a_one_line_block_with_one_attribute_is_accepted() -> None:
    project = load_config(
        write(
            """\
            project = "demo"
            app "web" {
              deploy {
                use "filepath" { directory = "out" }
              }
            }
            """
        )
    )
    assert project.apps["web"].deploy.config == {"directory": "out"}


def test_json_blocks_may_be_lists_of_objects_and_comments_are_skipped() -> None:
    project = load_config(
        write(
            """\
            {
              "//": "a comment, as HCL JSON allows",
              "project": "demo",
              "app": [
                {"web": {"deploy": [{"use": {"filepath": {}}}]}},
                {"api": [{"deploy": {"use": [{"filepath": {"directory": "a"}}]}}]}
              ]
            }
            """,
            "waypoint.hcl.json",
        )
    )
    assert list(project.apps) == ["web", "api"]
    assert project.apps["api"].deploy.config == {"directory": "a"}


# --- errors, each at FILE:LINE ------------------------------------------------------------


def test_a_syntax_error_names_the_file_line_and_column() -> None:
    error = error_of('project = "demo"\nstatus {\n  policy = \n}\n' + MINIMAL_APP)
    assert (error.line, str(error).split(": ")[0]) == (3, "waypoint.hcl:3")
    assert "syntax error at column 12" in error.message


def test_an_unclosed_block_is_reported_at_the_end_of_the_file() -> None:
    error = error_of('project = "demo"\napp "web" {\n  deploy {\n')
    assert str(error).startswith("waypoint.hcl:4: syntax error: unexpected end of file")


def test_a_json_syntax_error_names_the_file_and_line() -> None:
    error = error_of('{\n  "project": "demo",\n  "app": {,}\n}\n', "waypoint.hcl.json")
    assert str(error).startswith("waypoint.hcl.json:3: JSON syntax error at column 11")


def test_two_attributes_on_one_line_of_a_one_line_block_are_a_syntax_error() -> None:
    error = error_of('project = "demo"\nstatus { policy = "worst" timeout = "1s" }\n')
    assert str(error).startswith("waypoint.hcl:2: syntax error: put each attribute")


def test_a_nested_block_in_a_one_line_block_is_a_syntax_error() -> None:
    error = error_of('project = "demo"\napp "web" { deploy {} }\n')
    assert str(error).startswith("waypoint.hcl:2: syntax error: a one-line block holds")


def test_a_closing_brace_after_an_attribute_is_a_syntax_error() -> None:
    error = error_of('project = "demo"\nstatus {\n  policy = "worst" }\n')
    assert str(error).startswith("waypoint.hcl:3: syntax error: put the closing }")


def test_an_unknown_top_level_key_suggests_a_close_match() -> None:
    error = error_of('project = "demo"\n' + MINIMAL_APP + 'aps "x" {\n}\n')
    assert str(error) == (
        'waypoint.hcl:7: unknown key "aps" at the top level; did you mean "app"? '
        "Allowed: project, status, app, notify, maintenance, plugin"
    )


def test_an_unknown_app_key_lists_the_allowed_ones() -> None:
    error = error_of('project = "demo"\napp "web" {\n  url = "x"\n}\n')
    assert str(error) == (
        'waypoint.hcl:3: app "web": unknown key "url" in the app block; '
        "allowed: isolate, depends_on, deploy, release, status, build, registry"
    )


def test_an_unknown_status_key_names_the_app_and_suggests_a_close_match() -> None:
    text = MINIMAL_APP.replace("  }\n}", '  }\n  status {\n    polcy = "worst"\n  }\n}')
    error = error_of('project = "demo"\n' + text)
    assert str(error).startswith(
        'waypoint.hcl:7: app "web": unknown key "polcy" in the status block; '
        'did you mean "policy"? Allowed: policy, timeout, concurrency, interval, keep, heartbeat, '
        "locations, quorum, max_resources,"
    )


def test_an_unknown_json_key_names_its_line() -> None:
    error = error_of('{\n  "project": "demo",\n  "projcet": "x"\n}\n', "waypoint.hcl.json")
    assert str(error).startswith('waypoint.hcl.json:3: unknown key "projcet" at the top level')


def test_a_missing_project_is_an_error_without_a_line() -> None:
    error = error_of(MINIMAL_APP)
    assert error.line is None
    assert str(error) == 'waypoint.hcl: the project has no name; add project = "NAME" at the top'


def test_a_project_name_that_is_not_a_string_is_an_error() -> None:
    error = error_of("project = 3\n" + MINIMAL_APP)
    assert str(error).startswith("waypoint.hcl:1: project must be the project's name")


def test_a_project_without_apps_is_an_error() -> None:
    error = error_of('project = "demo"\n')
    assert str(error).startswith('waypoint.hcl: no app is defined; add one: app "NAME"')


def test_a_missing_deploy_block_is_reported_at_the_app() -> None:
    error = error_of('project = "demo"\napp "web" {\n  release {\n    use "x" {}\n  }\n}\n')
    assert str(error) == (
        'waypoint.hcl:2: app "web": no deploy block; add one: deploy { use "PLUGIN" { ... } }'
    )


def test_a_deploy_block_without_a_use_block_is_an_error() -> None:
    error = error_of('project = "demo"\napp "web" {\n  deploy {\n  }\n}\n')
    assert str(error).startswith('waypoint.hcl:3: app "web": the deploy block uses no plugin')


def test_two_use_blocks_are_reported_at_the_second() -> None:
    error = error_of(
        """\
        project = "demo"
        app "web" {
          deploy {
            use "filepath" {}
            use "other" {}
          }
        }
        """
    )
    assert str(error) == (
        'waypoint.hcl:5: app "web": a second use block in the deploy block (the first is on '
        "line 4); a deploy block uses one plugin, so keep one"
    )


def test_a_duplicate_app_names_both_lines() -> None:
    error = error_of('project = "demo"\n' + MINIMAL_APP + MINIMAL_APP)
    assert str(error) == (
        'waypoint.hcl:7: app "web" is defined twice (first on line 2); rename one, or merge them'
    )


def test_a_duplicate_deploy_block_names_both_lines() -> None:
    error = error_of(
        """\
        project = "demo"
        app "web" {
          deploy {
            use "filepath" {}
          }
          deploy {
            use "filepath" {}
          }
        }
        """
    )
    assert str(error).startswith(
        'waypoint.hcl:6: app "web": a second deploy block (the first is on line 3)'
    )


def test_a_duplicate_status_block_is_an_error() -> None:
    error = error_of('project = "demo"\nstatus {\n}\nstatus {\n}\n' + MINIMAL_APP)
    assert str(error).startswith("waypoint.hcl:4: a second status block (the first is on line 2)")


def test_an_attribute_set_twice_names_both_lines() -> None:
    error = error_of('project = "demo"\nproject = "again"\n' + MINIMAL_APP)
    assert str(error) == 'waypoint.hcl:2: "project" is set twice (first on line 1); keep one'


def test_an_app_without_a_name_is_an_error() -> None:
    error = error_of('project = "demo"\napp {\n}\n')
    assert str(error) == (
        'waypoint.hcl:2: app blocks take one label, the app\'s name: app "NAME" { ... }'
    )


def test_a_use_block_without_a_plugin_name_is_an_error() -> None:
    error = error_of('project = "demo"\napp "web" {\n  deploy {\n    use {\n    }\n  }\n}\n')
    assert str(error).startswith('waypoint.hcl:4: app "web": deploy: use blocks take one label')


def test_a_block_written_as_an_attribute_is_an_error() -> None:
    error = error_of('project = "demo"\nstatus = "worst"\n' + MINIMAL_APP)
    assert str(error) == (
        'waypoint.hcl:2: "status" is a block, not an attribute; write status { ... }'
    )


def test_an_attribute_written_as_a_block_is_an_error() -> None:
    error = error_of("project {\n}\n" + MINIMAL_APP)
    assert str(error) == (
        'waypoint.hcl:1: "project" is an attribute, not a block; write project = VALUE'
    )


def test_a_duplicate_app_in_json_names_both_lines() -> None:
    app = '"web": {"deploy": {"use": {"filepath": {}}}}'
    text = f'{{\n  "project": "demo",\n  "app": [\n    {{{app}}},\n    {{{app}}}\n  ]\n}}\n'
    error = error_of(text, "waypoint.hcl.json")
    assert str(error) == (
        'waypoint.hcl.json:5: app "web" is defined twice (first on line 4); '
        "rename one, or merge them"
    )


def _use_block(body: str) -> str:
    return f'project = "demo"\napp "web" {{\n  deploy {{\n    use "x" {{\n{body}    }}\n  }}\n}}\n'


NESTED_BLOCK = """\
      healthcheck {
        test     = ["CMD", "true"]
        interval = "$${not an expression}"
        limits {
          retries = 3
        }
      }
"""


def test_a_block_in_plugin_settings_is_the_object_it_holds() -> None:
    use = load_config(write(_use_block(NESTED_BLOCK))).apps["web"].deploy
    assert use.config == {
        "healthcheck": {
            "test": ["CMD", "true"],
            "interval": "${not an expression}",
            "limits": {"retries": 3},
        }
    }
    assert use.lines == {
        "healthcheck": 5,
        "healthcheck.test": 6,
        "healthcheck.interval": 7,
        "healthcheck.limits": 8,
        "healthcheck.limits.retries": 9,
    }


def test_a_block_in_plugin_settings_means_what_its_object_value_and_json_twin_mean() -> None:
    block = load_config(write(_use_block(NESTED_BLOCK))).apps["web"].deploy
    value = load_config(
        write(
            _use_block(
                '      healthcheck = {\n        test = ["CMD", "true"]\n'
                '        interval = "$${not an expression}"\n        limits = { retries = 3 }\n'
                "      }\n"
            )
        )
    )
    twin = load_config(
        write(
            json.dumps(
                {
                    "project": "demo",
                    "app": {"web": {"deploy": {"use": {"x": block.config}}}},
                }
            ).replace("${", "$${"),
            "waypoint.hcl.json",
        )
    )
    assert value.apps["web"].deploy == block == twin.apps["web"].deploy


def test_a_labelled_block_in_plugin_settings_is_an_error() -> None:
    error = error_of(_use_block('      port "http" {\n      }\n'))
    assert str(error) == (
        'waypoint.hcl:5: app "web": deploy: use "x": a port block in plugin settings takes no '
        "label; write port { ... }"
    )


def test_a_block_in_plugin_settings_given_twice_is_an_error() -> None:
    error = error_of(_use_block("      limits {\n      }\n      limits = {}\n"))
    assert str(error) == (
        'waypoint.hcl:7: app "web": deploy: use "x": "limits" is set twice (first on line 5); '
        "keep one"
    )


def test_a_problem_inside_a_block_in_plugin_settings_names_the_block() -> None:
    error = error_of(_use_block("      limits {\n        size = var.size\n      }\n"))
    assert str(error).startswith(
        'waypoint.hcl:6: app "web": deploy: use "x": limits: size: holds the expression '
        '"${var.size}"'
    )


def test_an_expression_is_rejected_at_its_line() -> None:
    error = error_of(
        'project = "demo"\napp "web" {\n  deploy {\n    use "filepath" {\n'
        "      directory = var.dir\n    }\n  }\n}\n"
    )
    assert str(error).startswith(
        'waypoint.hcl:5: app "web": deploy: use "filepath": directory: holds the '
        'expression "${var.dir}"; variables, functions and interpolation are not supported'
    )


def test_a_bad_duration_names_the_key_and_the_accepted_form() -> None:
    error = error_of('project = "demo"\nstatus {\n  timeout = "soon"\n}\n' + MINIMAL_APP)
    assert str(error).startswith(
        "waypoint.hcl:3: timeout: 'soon' is not a duration; write a number and a unit"
    )


def test_a_zero_interval_is_an_error() -> None:
    error = error_of('project = "demo"\nstatus {\n  interval = "0s"\n}\n' + MINIMAL_APP)
    assert str(error) == "waypoint.hcl:3: interval must be longer than 0s, got '0s'"


def test_a_heartbeat_is_a_duration_in_either_form_and_inherited() -> None:
    app = MINIMAL_APP.replace("  deploy {", '  status {\n    heartbeat = "90s"\n  }\n  deploy {')
    hcl = load_config(write('project = "demo"\nstatus {\n  heartbeat = "5m"\n}\n' + MINIMAL_APP))
    assert float(hcl.apps["web"].status.heartbeat or 0) == 300
    own = load_config(write('project = "demo"\n' + app))
    assert float(own.apps["web"].status.heartbeat or 0) == 90
    document = {
        "project": "demo",
        "status": {"heartbeat": "5m"},
        "app": {"web": {"deploy": {"use": {"filepath": {}}}}},
    }
    twin = load_config(write(json.dumps(document), "waypoint.hcl.json"))
    assert twin.apps["web"].status == hcl.apps["web"].status
    assert load_config(write('project = "demo"\n' + MINIMAL_APP)).status.heartbeat is None


def test_a_zero_heartbeat_is_an_error_in_either_form() -> None:
    error = error_of('project = "demo"\nstatus {\n  heartbeat = "0s"\n}\n' + MINIMAL_APP)
    assert str(error) == "waypoint.hcl:3: heartbeat must be longer than 0s, got '0s'"
    document = {"project": "demo", "status": {"heartbeat": "soon"}}
    error = error_of(json.dumps(document), "waypoint.hcl.json")
    assert str(error).startswith("waypoint.hcl.json:1: heartbeat: 'soon' is not a duration")


@pytest.mark.parametrize("value", ["0", "-1", '"16"', "1.5", "true"])
def test_a_bad_concurrency_is_reported_at_its_line(value: str) -> None:
    error = error_of(f'project = "demo"\nstatus {{\n  concurrency = {value}\n}}\n' + MINIMAL_APP)
    assert str(error).startswith(
        "waypoint.hcl:3: concurrency is how many checks run at a time: a whole number, 1 or more"
    )


def test_a_bad_policy_lists_the_policies() -> None:
    text = MINIMAL_APP.replace("  }\n}", '  }\n  status {\n    policy = "best"\n  }\n}')
    error = error_of('project = "demo"\n' + text)
    assert str(error) == (
        "waypoint.hcl:7: app \"web\": unknown status policy 'best'; "
        "use one of waypoint, worst, threshold"
    )


def test_a_bad_policy_option_is_reported_at_its_line() -> None:
    error = error_of(
        'project = "demo"\nstatus {\n  policy         = "threshold"\n  ready_fraction = 2\n}\n'
        + MINIMAL_APP
    )
    assert str(error) == (
        "waypoint.hcl:4: status option 'ready_fraction' must be a number from 0 to 1, got 2"
    )


def test_an_option_of_another_policy_is_reported_at_its_line() -> None:
    error = error_of('project = "demo"\nstatus {\n  order = ["READY"]\n}\n' + MINIMAL_APP)
    assert str(error) == (
        "waypoint.hcl:3: status option 'order' belongs to policy 'worst', not 'waypoint'"
    )


def test_exclusive_policy_options_are_reported_at_the_second() -> None:
    error = error_of(
        'project = "demo"\nstatus {\n  policy         = "threshold"\n  ready_fraction = 0.5\n'
        "  min_ready      = 2\n}\n" + MINIMAL_APP
    )
    assert str(error) == (
        "waypoint.hcl:5: ready_fraction and min_ready exclude each other: both say how many "
        "resources must be READY; keep one"
    )


def test_a_json_block_that_is_not_an_object_is_an_error() -> None:
    error = error_of('{\n  "project": "demo",\n  "status": "worst"\n}\n', "waypoint.hcl.json")
    assert str(error).startswith('waypoint.hcl.json:3: "status" is a block; write it as a JSON')


def test_a_json_file_that_is_not_an_object_is_an_error() -> None:
    error = error_of("[]\n", "waypoint.hcl.json")
    assert str(error).startswith("waypoint.hcl.json:1: the file must hold one JSON object")


def test_a_missing_file_is_an_error_without_a_line() -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(Path("waypoint.hcl"))
    assert str(info.value) == "waypoint.hcl: cannot read the config file: No such file or directory"


def test_a_file_that_is_not_utf8_is_an_error_at_the_line() -> None:
    Path("waypoint.hcl").write_bytes(b'project = "demo"\n# caf\xe9\n')
    with pytest.raises(ConfigFileError) as info:
        load_config(Path("waypoint.hcl"))
    assert str(info.value) == "waypoint.hcl:2: the file is not UTF-8 text; save it as UTF-8"


def test_an_error_outside_the_working_directory_shows_the_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write("project = 3\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigFileError) as info:
        load_config(tmp_path / path)
    assert info.value.path == tmp_path / "waypoint.hcl"
    assert str(info.value).startswith(f"{tmp_path / 'waypoint.hcl'}:1: ")


# --- limits of the file (DESIGN §13) ------------------------------------------------------

MIB = 1024 * 1024


def test_a_50_mb_config_is_refused_at_once_in_bounded_memory_and_nothing_is_cached(
    tmp_path: Path,
) -> None:
    app = 'app "a{}" {{\n  deploy {{\n    use "filepath" {{}}\n  }}\n}}\n'
    with open("waypoint.hcl", "w", encoding="utf-8") as file:
        file.write('project = "big"\n')
        for index in range(1_000_000):
            file.write(app.format(index))
            if file.tell() > 50 * MIB:
                break
    ran = harness.measure(["status"], cwd=tmp_path)
    print(f"\n50 MB config: exit {ran.returncode} in {ran.seconds:.2f}s, peak RSS {ran.peak_rss}")
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr == (
        "Error: waypoint.hcl: the file is over 10 MiB, the most a config file may be; "
        "is it the right file?\n"
    )
    assert ran.peak_rss < 200 * MIB
    assert not (tmp_path / ".waypoint-hooks").exists()


def test_a_config_of_10_mib_is_read_and_one_byte_more_is_refused() -> None:
    text = 'project = "demo"\n' + MINIMAL_APP + "#"
    text += "x" * (MAX_CONFIG_BYTES - len(text))
    assert load_config(write(text)).name == "demo"
    error = error_of(text + "x")
    assert (error.line, error.message) == (
        None,
        "the file is over 10 MiB, the most a config file may be; is it the right file?",
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("waypoint.hcl", 'project = "x"\nv = ' + "[" * 100_000 + "]" * 100_000 + "\n"),
        ("waypoint.hcl.json", '{"project": "x",\n"app": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ],
    ids=["hcl", "json"],
)
def test_a_config_nested_100000_deep_is_refused_at_its_line(
    tmp_path: Path, name: str, text: str
) -> None:
    Path(name).write_text(text, encoding="utf-8")
    ran = harness.measure(["-c", name, "status"], cwd=tmp_path)
    print(f"\n{name} nested 100,000 deep: exit {ran.returncode} in {ran.seconds:.2f}s")
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr == (
        f"Error: {name}:2: nested more than 64 levels deep (blocks, objects, lists and brackets "
        "together); a configuration needs far fewer, so flatten it\n"
    )
    assert not (tmp_path / ".waypoint-hooks").exists()


def nested_setting(levels: int) -> str:
    """A config whose one plugin setting brings the nesting to ``levels`` (app, deploy and
    use are three)."""
    value = "[" * (levels - 3) + "]" * (levels - 3)
    return MINIMAL_APP.replace("{}", f"{{\n      v = {value}\n    }}")


def test_nesting_of_64_levels_is_read_and_65_is_refused_at_its_line() -> None:
    assert load_config(write('project = "demo"\n' + nested_setting(64))).name == "demo"
    error = error_of('project = "demo"\n' + nested_setting(65))
    assert (error.line, error.message.split(";")[0]) == (
        5,
        "nested more than 64 levels deep (blocks, objects, lists and brackets together)",
    )


def test_json_nesting_of_64_levels_is_read_and_65_is_refused_at_its_line() -> None:
    def document(levels: int) -> str:
        inner = "[" * (levels - 6) + "]" * (levels - 6)
        return (
            '{"project": "demo",\n"app": {"web": {"deploy": {"use": {"filepath":\n'
            f'{{"v": {inner}}}}}}}}}}}}}'
        )

    assert load_config(write(document(64), "waypoint.hcl.json")).name == "demo"
    error = error_of(document(65), "waypoint.hcl.json")
    assert error.line == 3
    assert error.message.startswith("nested more than 64 levels deep")


def test_an_expression_chained_too_deep_to_read_is_refused_at_its_line() -> None:
    error = error_of('project = "demo"\n\nv = ' + " + ".join(["1"] * 1000) + "\n")
    assert str(error) == (
        "waypoint.hcl:3: an expression nested or chained over 400 levels deep; write the "
        "value itself"
    )


# --- find_config ---------------------------------------------------------------------------


def test_find_config_prefers_waypoint_hcl(tmp_path: Path) -> None:
    write(FULL_HCL)
    write(FULL_JSON, "waypoint.hcl.json")
    assert find_config(tmp_path) == tmp_path / "waypoint.hcl"


def test_find_config_falls_back_to_waypoint_hcl_json(tmp_path: Path) -> None:
    write(FULL_JSON, "waypoint.hcl.json")
    assert find_config(tmp_path) == tmp_path / "waypoint.hcl.json"


def test_find_config_names_both_files_when_neither_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        find_config(tmp_path)
    assert str(info.value) == (
        "waypoint.hcl: no such file, nor waypoint.hcl.json; create one, or name another "
        "with --config PATH"
    )


# --- check_plugins -------------------------------------------------------------------------


@pytest.fixture
def builtins() -> PluginManager:
    return PluginManager.load(autoload=False)


def checked(text: str, plugins: PluginManager) -> ConfigFileError:
    project = load_config(write(text))
    with pytest.raises(ConfigFileError) as info:
        check_plugins(project, plugins)
    return info.value


def test_check_plugins_accepts_the_builtin_filepath_plugin(builtins: PluginManager) -> None:
    check_plugins(load_config(write(FULL_HCL)), builtins)


def test_an_unknown_plugin_is_reported_at_its_use_block(builtins: PluginManager) -> None:
    error = checked(FULL_HCL.replace('use "filepath" {}', 'use "filepat" {}'), builtins)
    installed = ", ".join(sorted(plugin.name for plugin in builtins.plugins))
    assert str(error) == (
        'waypoint.hcl:18: app "web": release: use "filepat": plugin \'filepat\': no such '
        f"plugin is installed (installed: {installed}); pip install the package that provides "
        'it; did you mean "filepath"?'
    )


def test_a_config_that_does_not_fit_names_app_plugin_field_and_problem(
    builtins: PluginManager,
) -> None:
    error = checked(FULL_HCL.replace('directory = "api"', "directory = 3"), builtins)
    assert str(error) == (
        'waypoint.hcl:30: app "api": deploy: use "filepath": directory: expected str, got int; '
        "change this use block to fit the plugin"
    )


def test_an_unknown_config_field_is_reported_with_the_known_ones(builtins: PluginManager) -> None:
    error = checked(FULL_HCL.replace("directory =", "folder    ="), builtins)
    assert str(error) == (
        'waypoint.hcl:13: app "web": deploy: use "filepath": folder: unknown field '
        "(known fields: directory, content); change this use block to fit the plugin"
    )


def test_a_mistyped_config_field_gets_a_did_you_mean(builtins: PluginManager) -> None:
    error = checked(FULL_HCL.replace("directory =", "dirctory  ="), builtins)
    assert str(error) == (
        'waypoint.hcl:13: app "web": deploy: use "filepath": dirctory: unknown field, did you '
        'mean "directory"? (known fields: directory, content); change this use block to fit the '
        "plugin"
    )


def test_a_release_config_is_checked_against_the_release_manager_hooks(
    builtins: PluginManager,
) -> None:
    text = FULL_HCL.replace('use "filepath" {}', 'use "filepath" {\n      directory = "x"\n    }')
    error = checked(text, builtins)
    assert str(error).startswith(
        'waypoint.hcl:19: app "web": release: use "filepath": directory: unknown field '
        "(known fields: link)"
    )


def test_a_release_plugin_must_be_a_release_manager(
    builtins: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module(
        "onlydeploy",
        """
        from waypoint_hooks import hookimpl

        @hookimpl
        def platform_deploy_func():
            return {}
        """,
    )
    builtins.register(module, "onlydeploy")
    error = checked(FULL_HCL.replace('use "filepath" {}', 'use "onlydeploy" {}'), builtins)
    assert str(error) == (
        'waypoint.hcl:18: app "web": release: use "onlydeploy": the plugin is not a release '
        "manager (it does not implement release_manager_release_func); use a plugin that is one"
    )


def test_a_broken_plugin_is_left_to_fail_only_the_apps_that_use_it(
    builtins: PluginManager,
) -> None:
    builtins.add(Plugin("broken", "waypoint_hooks_no_such_module", "cli"))
    check_plugins(
        load_config(write(FULL_HCL.replace('use "filepath" {}', 'use "broken" {}'))), builtins
    )


def test_only_the_named_apps_are_checked(builtins: PluginManager) -> None:
    text = FULL_HCL.replace('use "filepath" {}', 'use "filepat" {}')
    check_plugins(load_config(write(text)), builtins, names=["api"])
    with pytest.raises(ConfigFileError, match="filepat"):
        check_plugins(load_config(write(text)), builtins, names=["web"])


def test_a_plugin_setting_that_fails_a_validator_is_reported_at_its_own_line(
    builtins: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module(
        "modal",
        """
        import attrs
        from waypoint_hooks import hookimpl

        @attrs.define
        class Config:
            mode: str = attrs.field(validator=attrs.validators.in_(["fast", "safe"]))
            workers: int = attrs.field(default=1, validator=attrs.validators.ge(1))

        @hookimpl
        def platform_deploy_func(config: Config):
            return {}
        """,
    )
    builtins.register(module, "modal")
    text = 'project = "demo"\napp "web" {\n  deploy {\n    use "modal" {\n      workers = 2\n'
    error = checked(text + '      mode    = "turbo"\n    }\n  }\n}\n', builtins)
    assert str(error) == (
        'waypoint.hcl:6: app "web": deploy: use "modal": mode: must be one of fast, safe; '
        "got 'turbo'; change this use block to fit the plugin"
    )


def test_a_plugin_setting_inside_a_block_is_reported_at_its_own_line(
    builtins: PluginManager, write_module: Callable[[str, str], str]
) -> None:
    # A module on sys.path: its annotations name a class of its own, which cattrs resolves
    # in the module.
    write_module(
        "nested",
        """
        import attrs
        from waypoint_hooks import hookimpl

        @attrs.define
        class Limits:
            workers: int = attrs.field(validator=attrs.validators.ge(1))

        @attrs.define
        class Config:
            limits: Limits

        @hookimpl
        def platform_deploy_func(config: Config):
            return {}
        """,
    )
    builtins.register(importlib.import_module("nested"), "nested")
    text = 'project = "demo"\napp "web" {\n  deploy {\n    use "nested" {\n      limits {\n'
    error = checked(text + "        workers = 0\n      }\n    }\n  }\n}\n", builtins)
    assert str(error).startswith('waypoint.hcl:6: app "web": deploy: use "nested": limits.workers')


def test_a_missing_plugin_setting_is_reported_at_the_use_block(builtins: PluginManager) -> None:
    # A setting that is not there has no line of its own.
    error = checked('project = "demo"\n' + MINIMAL_APP.replace("filepath", "process"), builtins)
    assert str(error).startswith(
        'waypoint.hcl:4: app "web": deploy: use "process": command: required field missing'
    )


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "a b", ".hidden", "x" * 64, "caf\u00e9", ""])
def test_an_app_name_that_is_not_a_name_is_refused_at_its_line(name: str) -> None:
    error = error_of(
        f'project = "demo"\n\napp {json.dumps(name)} {{\n' + MINIMAL_APP.split("\n", 1)[1]
    )
    assert str(error) == (
        f"waypoint.hcl:3: app \"{name}\": the app's name must be 1 to 63 letters, digits, '_', "
        "'.' or '-', starting with a letter or digit ([A-Za-z0-9][A-Za-z0-9_.-]{0,62}), as it "
        f"is used in file names and URLs; got {name!r}"
    )


def test_an_app_name_of_63_letters_digits_dots_dashes_and_underscores_is_a_name() -> None:
    name = "A9._-" + "x" * 58
    project = load_config(write('project = "demo"\n' + MINIMAL_APP.replace('"web"', f'"{name}"')))
    assert list(project.apps) == [name]


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "seconds"), [("30", 30.0), ("0.5", 0.5), ('"1m30s"', 90.0)])
def test_a_duration_is_a_number_of_seconds_or_text_with_a_unit(
    written: str, seconds: float
) -> None:
    project = load_config(
        write(f'project = "demo"\nstatus {{\n  timeout = {written}\n}}\n' + MINIMAL_APP)
    )
    assert (project.status.timeout, str(project.status.timeout)) == (
        seconds,
        str(Duration(seconds)),
    )


def test_a_duration_written_as_text_needs_its_unit() -> None:
    error = error_of('project = "demo"\nstatus {\n  timeout = "30"\n}\n' + MINIMAL_APP)
    assert str(error).startswith("waypoint.hcl:3: timeout: duration '30' has no unit;")


def test_a_zero_timeout_is_refused_as_on_the_command_line() -> None:
    error = error_of('project = "demo"\nstatus {\n  timeout = 0\n}\n' + MINIMAL_APP)
    assert str(error) == "waypoint.hcl:3: timeout must be longer than 0s, got '0s'"


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("250us", 0.00025),
        ("1h0m0.001s", 3600.001),
        ("14d", 14 * 86400.0),
        ("1d12h", 129600.0),
    ],
)
def test_parse_duration_reads_go_style_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (30, "expected a duration string, got 30"),
        (True, "expected a duration string, got True"),
        ("", "'' is not a duration"),
        ("30", "duration '30' has no unit"),
        ("-1s", "duration '-1s' is negative"),
        ("5 minutes", "'5 minutes' is not a duration"),
        ("1w", "'1w' is not a duration"),
    ],
)
def test_parse_duration_rejects_anything_else_and_says_what_to_write(
    value: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}") as info:
        parse_duration(value)
    assert str(info.value).endswith(
        'such as "30s", "2m", "1m30s" or "500ms" (units: d, h, m, s, ms, us, ns)'
    )


_SECONDS_PER_UNIT = {
    "d": Fraction(86400),
    "h": Fraction(3600),
    "m": Fraction(60),
    "s": Fraction(1),
    "ms": Fraction(1, 1000),
    "us": Fraction(1, 10**6),
}


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
            st.sampled_from(sorted(_SECONDS_PER_UNIT)),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_parse_duration_round_trips_generated_durations(parts: list[tuple[Decimal, str]]) -> None:
    text = "".join(f"{number:f}{unit}" for number, unit in parts)
    exact = sum(Fraction(number) * _SECONDS_PER_UNIT[unit] for number, unit in parts)
    assert parse_duration(text) == float(exact)


# --- the cache of parsed files -------------------------------------------------------------


@pytest.fixture
def parser_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text hcl2 is asked to parse."""
    calls: list[str] = []
    parse = _reader._parse_hcl

    def counting(path: Path, text: str) -> object:
        calls.append(text)
        return parse(path, text)

    monkeypatch.setattr(_reader, "_parse_hcl", counting)
    return calls


def test_an_unchanged_file_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(FULL_HCL)
    first = load_config(path, tmp_path / "cache")

    def refuse(path: Path, text: str) -> None:
        raise AssertionError("the parser was called for an unchanged file")

    monkeypatch.setattr(_reader, "_parse_hcl", refuse)
    assert load_config(path, tmp_path / "cache") == first


def test_the_cached_project_keeps_lines(tmp_path: Path) -> None:
    path = write(FULL_HCL)
    load_config(path, tmp_path / "cache")
    web = load_config(path, tmp_path / "cache").apps["web"]
    assert (web.line, web.deploy.line) == (10, 12)


def test_a_changed_file_is_parsed_again(tmp_path: Path, parser_calls: list[str]) -> None:
    path = write(FULL_HCL)
    load_config(path, tmp_path / "cache")
    write(FULL_HCL.replace('"demo"', '"renamed"'))
    assert load_config(path, tmp_path / "cache").name == "renamed"
    assert len(parser_calls) == 2


def test_a_file_changed_to_the_same_size_and_time_is_parsed_again(
    tmp_path: Path, parser_calls: list[str]
) -> None:
    path = write(FULL_HCL)
    stat = path.stat()
    load_config(path, tmp_path / "cache")
    write(FULL_HCL.replace('"demo"', '"odem"'))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_config(path, tmp_path / "cache").name == "odem"
    assert len(parser_calls) == 2


def test_a_corrupt_cache_is_ignored_and_rewritten(tmp_path: Path, parser_calls: list[str]) -> None:
    path = write(FULL_HCL)
    cache = tmp_path / "cache"
    first = load_config(path, cache)
    (entry,) = cache.iterdir()
    entry.write_text('{"key": [1, 2], "body": "nonsense')
    assert load_config(path, cache) == first
    assert json.loads(entry.read_text())["body"]
    assert load_config(path, cache) == first
    assert len(parser_calls) == 2


@pytest.mark.parametrize(
    "body", [[["x"]], [["a", "project", "demo", "one"]], [["b", "app", [1], 1, []]], "text"]
)
def test_a_cache_entry_of_the_wrong_shape_is_ignored(
    tmp_path: Path, parser_calls: list[str], body: object
) -> None:
    path = write(FULL_HCL)
    cache = tmp_path / "cache"
    first = load_config(path, cache)
    (entry,) = cache.iterdir()
    stored = json.loads(entry.read_text())
    entry.write_text(json.dumps({"key": stored["key"], "body": body}))
    assert load_config(path, cache) == first
    assert len(parser_calls) == 2


def test_nothing_is_written_for_an_invalid_file(tmp_path: Path) -> None:
    path = write('project = "demo"\n')
    with pytest.raises(ConfigFileError):
        load_config(path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_cache_that_cannot_be_written_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the cache directory would be")
    assert load_config(write(FULL_HCL), tmp_path / "cache").name == "demo"


def test_a_json_file_is_not_cached(tmp_path: Path) -> None:
    load_config(write(FULL_JSON, "waypoint.hcl.json"), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_importing_the_config_module_does_not_import_hcl2() -> None:
    code = (
        "import sys, waypoint_hooks.config.project;"
        " print('hcl2' in sys.modules, 'lark' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_the_config_module_imports_no_plugin_machinery() -> None:
    code = "import sys, waypoint_hooks.config.project; print('pluggy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_isolate_and_keep_are_read_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "waypoint.hcl"
    config.write_text(
        'project = "p"\n\nstatus {\n  keep = 5\n}\n\napp "web" {\n  isolate = true\n'
        '  deploy {\n    use "filepath" {}\n  }\n}\n'
    )
    web = load_config(config).apps["web"]
    assert (web.isolate, web.status.keep) == (True, 5)
    config.write_text(config.read_text().replace("isolate = true", 'isolate = "yes"'))
    with pytest.raises(ConfigFileError, match=r"waypoint.hcl:8: .*isolate is true or false"):
        load_config(config)
    config.write_text(config.read_text().replace("keep = 5", "keep = 0"))
    with pytest.raises(ConfigFileError, match=r"waypoint.hcl:4: .*keep is how many reports"):
        load_config(config)


def test_reading_a_config_runs_no_collection_and_leaves_the_collector_on() -> None:
    # A collection while the parse tree, the document and the project are made walks them
    # again and again, and a full one all the process holds: a bigger config cost more per app.
    apps = "".join(MINIMAL_APP.replace('"web"', f'"app{index}"') for index in range(300))
    path = write(f'project = "p"\n{apps}')
    collections: list[str] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        collections.append(phase)

    gc.callbacks.append(seen)
    try:
        for _ in range(2):  # read, then from its cache
            load_config(path, cache_dir=Path(".waypoint-hooks"))
            # The one allowed: made as the collector is turned on again, at the end.
            assert collections.count("start") <= 1
            collections.clear()
    finally:
        gc.callbacks.remove(seen)
    assert gc.isenabled()
