"""Chapter 04's cost of attention: the in-notebook measurement and its exercise check."""
import pytest

from medsynth_nb.analysis.cost import token_cost
from medsynth_nb.exercises import chapter04
from medsynth_nb.profiles import get_profile


@pytest.fixture(scope="module")
def cost():
    return token_cost(get_profile("smoke"), "t1:t2", 32, [4, 2, 1], repeats=1)


def test_attention_memory_grows_with_the_square_of_the_tokens(cost):
    assert cost["tokens"].tolist() == [4, 16, 64]  # bottleneck 8 x 8 cut into 4-, 2- and 1-pixel patches
    ratio = cost["attention MB"].iloc[-1] / cost["attention MB"].iloc[0]
    assert ratio == pytest.approx((64 / 4) ** 2)
    assert (cost["ms per step"] > 0).all() and cost["GPU peak MB"].isna().all()


def test_attention_growth_exercise(cost, capsys):
    assert chapter04.check_attention_growth(256, cost)
    assert not chapter04.check_attention_growth(16, cost)  # the token ratio, not the memory ratio
    assert "tokens x tokens" in capsys.readouterr().out
