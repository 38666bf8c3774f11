from ml.select import rule


def _figures(a_acc, a_auc, b_acc, b_sens):
    return {
        "set_a": {"accuracy": a_acc, "roc_auc": a_auc},
        "set_b": {"accuracy": b_acc, "sensitivity": b_sens},
    }


def test_candidate_passing_every_criterion_passes():
    base = _figures(0.89, 0.986, 0.60, 0.95)
    cand = _figures(0.87, 0.977, 0.65, 0.95)
    assert all(rule(base, cand, require_b_sensitivity=True).values())


def test_each_criterion_can_fail_on_its_own():
    base = _figures(0.89, 0.986, 0.60, 0.95)
    assert not rule(base, _figures(0.85, 0.986, 0.65, 0.95))["a_accuracy_within_3_points"]
    assert not rule(base, _figures(0.89, 0.975, 0.65, 0.95))["a_roc_auc_within_0.01"]
    assert not rule(base, _figures(0.89, 0.986, 0.60, 0.95))["b_accuracy_higher"]
    lower_sens = rule(base, _figures(0.89, 0.986, 0.65, 0.94), require_b_sensitivity=True)
    assert lower_sens == {
        "a_accuracy_within_3_points": True,
        "a_roc_auc_within_0.01": True,
        "b_accuracy_higher": True,
        "b_sensitivity_not_lower": False,
    }


def test_sensitivity_criterion_only_when_asked():
    base = _figures(0.89, 0.986, 0.60, 0.95)
    assert "b_sensitivity_not_lower" not in rule(base, _figures(0.89, 0.986, 0.65, 0.5))
