"""The hidden tests' check that an answer is the student's own code (aibook_course.checks)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from aibook.autograd.tensor import unbroadcast as library_unbroadcast
from aibook_course.checks import own_work


def own_unbroadcast(grad, shape):
    grad = np.asarray(grad)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


G = np.arange(24.0).reshape(2, 3, 4)


def test_the_students_own_code_passes_with_its_result_unchanged():
    checked = own_work(own_unbroadcast, question="q3")
    assert np.array_equal(checked(G, (3, 1)), own_unbroadcast(G, (3, 1)))
    assert checked.__name__ == "own_unbroadcast"
    assert sys.getprofile() is None  # the hook is gone after the call


def test_the_library_object_itself_is_refused():
    with pytest.raises(AssertionError, match=r"q3: .*aibook\.autograd\.tensor.*write your own"):
        own_work(library_unbroadcast, question="q3")


def test_a_wrapper_around_the_library_is_caught_when_it_runs():
    def unbroadcast(grad, shape):  # a function of the student's that only delegates
        return library_unbroadcast(grad, shape)

    checked = own_work(unbroadcast, question="q3")
    with pytest.raises(AssertionError, match=r"q3: your `unbroadcast` runs library code "
                                             r"\(aibook\.autograd\.tensor\.unbroadcast\)"):
        checked(G, (3, 1))


def test_forbidden_c_functions_are_caught_and_allowed_ones_are_not():
    def conv_with_torch(x):
        w = torch.ones(1, 1, 2, 2, dtype=torch.float64)
        return torch.nn.functional.conv2d(torch.as_tensor(x), w).numpy()

    with pytest.raises(AssertionError, match=r"your `conv_with_torch` runs library code \(torch\."):
        own_work(conv_with_torch, forbid=("aibook", "torch"))(np.ones((1, 1, 3, 3)))
    assert own_work(conv_with_torch, forbid=("aibook",))(np.ones((1, 1, 3, 3))).shape == \
        (1, 1, 2, 2)


def test_an_answer_that_switches_the_check_off_fails():
    def sneaky(grad, shape):
        sys.setprofile(None)
        return library_unbroadcast(grad, shape)

    with pytest.raises(AssertionError, match="changed the profiler"):
        own_work(sneaky, question="q3")(G, (3, 1))


def test_an_answer_that_is_not_a_function_says_what_came():
    with pytest.raises(AssertionError, match="expected a function, got NoneType"):
        own_work(None, question="q3")


def test_an_error_in_the_answer_names_the_students_own_line_and_keeps_its_type():
    def tanh_backward(y, g):
        scale = 1 - y**2
        return scale @ g[:, :1].T @ g  # wrong shapes: a ValueError from numpy, on this line

    checked = own_work(tanh_backward, question="q1")
    with pytest.raises(ValueError) as info:
        checked(np.zeros((4, 3)), np.ones((4, 3)))
    message = str(info.value)
    assert "raised in your `tanh_backward` at: return scale @ g[:, :1].T @ g" in message
    assert message.startswith("matmul: Input operand 1")  # numpy's own text comes first


def test_an_error_raised_outside_the_students_code_is_left_as_it_was():
    checked = own_work(int, question="q1")  # a builtin: no line of the student's to show
    with pytest.raises(ValueError) as info:
        checked("x")
    assert str(info.value) == "invalid literal for int() with base 10: 'x'"
