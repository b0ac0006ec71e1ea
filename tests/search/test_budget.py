import time

from search.budget import Budget


def test_reserve_shrinks_tokens_then_samples_to_fit():
    budget = Budget.create(max_tokens=100, max_calls=None, deadline_s=None)
    r = budget.reserve(4, 50)
    assert r is not None and r.n == 4 and r.max_tokens == 25  # 4 x 25 = 100
    assert budget.reserve(1, 10) is None  # everything is reserved
    budget.settle(r, 40)
    assert budget.tokens_used == 40 and budget.tokens_left == 60
    r2 = budget.reserve(8, 100)
    assert r2 is not None and r2.n == 3 and r2.n * r2.max_tokens <= 60  # at least 16 tokens a sample


def test_calls_and_deadline_stop_the_budget():
    budget = Budget.create(max_tokens=None, max_calls=2, deadline_s=None)
    assert budget.reserve(1, 10) and budget.reserve(1, 10)
    assert budget.reserve(1, 10) is None and budget.stop_reason() == "calls"
    late = Budget.create(max_tokens=None, max_calls=None, deadline_s=0.01)
    time.sleep(0.02)
    assert late.reserve(1, 10) is None and late.stop_reason() == "deadline"


def test_tiny_budget_still_allows_one_call():
    budget = Budget.create(max_tokens=5, max_calls=None, deadline_s=None)
    r = budget.reserve(3, 512)
    assert r is not None and r.n * r.max_tokens <= 5
