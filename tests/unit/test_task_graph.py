from __future__ import annotations

from invoke import Executor, Task
from invoke.parser.context import ParserContext

import tasks
from workshop.app.steps import ALL_STEPS, BEYOND_STEPS
from workshop.catalogue import STEPS, WORKSHOP_BUILD_STEPS


def planned(*names: str) -> list[str]:
    """The task names invoke runs, in order, for `invoke NAMES`."""
    executor = Executor(tasks.ns)
    calls = executor.dedupe(executor.expand_calls(executor.normalize(names)))
    return [call.task.name for call in calls]


def test_every_step_is_a_task_whose_help_is_its_title_in_the_step_table() -> None:
    for number, step in STEPS.items():
        task = tasks.ns[f"step-{number}"]
        assert task.__doc__ and task.__doc__.rstrip(".") == step.title.rstrip(".")


def test_order_is_declared_with_pre_tasks() -> None:
    ns = tasks.ns
    assert ns["step-8"].pre == [ns["step-7"]]
    assert ns["step-4"].pre == [ns["step-3"]]
    assert ns["step-3"].pre == [ns["step-1"]]
    assert ns["step-9"].pre == []


def test_step_8_builds_the_scratch_image_first_and_nothing_it_does_not_need() -> None:
    assert planned("step-8") == ["step_1", "step_7", "step_8"]


def test_all_and_beyond_take_a_platform_so_they_run_their_steps_themselves() -> None:
    # A pre-task runs before the task's flags could reach it: `all --platform` could not
    # build its steps for the platform asked.
    assert planned("all") == ["all"]
    assert planned("beyond") == ["beyond"]
    assert [argument.name for argument in tasks.all_.get_arguments()] == ["platform"]
    assert [argument.name for argument in tasks.beyond.get_arguments()] == ["platform"]


def test_all_runs_steps_1_to_9_and_beyond_what_its_steps_pre_tasks_would() -> None:
    assert tuple(range(1, 10)) == ALL_STEPS
    pre_tasks = planned(*(f"step-{n}" for n in range(10, 16)))
    assert {int(name.removeprefix("step_")) for name in pre_tasks} == set(BEYOND_STEPS)
    assert sorted(BEYOND_STEPS) == list(BEYOND_STEPS)


def test_step_tasks_take_no_parameters() -> None:
    # invoke runs a parameterised task twice when it is both named and a pre-task.
    for number in STEPS:
        assert getattr(tasks, f"step_{number}").get_arguments() == []


def test_build_steps_are_the_workshops_images() -> None:
    assert [step.tag for step in WORKSHOP_BUILD_STEPS.values()] == [
        "go-big",
        "go-alpine",
        "go-multi-stage",
        "go-scratch",
        "go-stripped",
        "go-smaller",
    ]
    assert WORKSHOP_BUILD_STEPS[8].compare_with == 7
    assert WORKSHOP_BUILD_STEPS[9].sources == ("app-smaller.go",)


def test_parser_context_is_what_invoke_hands_on() -> None:
    # normalize() also takes parsed contexts, as the CLI gives them.
    assert planned(ParserContext(name="step-2")) == ["step_1", "step_2"]  # type: ignore[arg-type]  # invoke annotates str; it takes these too


def test_every_task_is_in_the_collection() -> None:
    defined = {
        value.name.replace("_", "-") for value in vars(tasks).values() if isinstance(value, Task)
    }
    assert defined <= set(tasks.ns.tasks)
