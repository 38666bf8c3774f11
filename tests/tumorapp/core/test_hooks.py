"""The hooks through which a lower layer reaches a higher one it may not import
(tumorapp.core.hooks), and their wiring at start-up."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from reviews import hooks as reviews_hooks
from reviews.models import SiteOptions
from reviews.services import case_open_for_prediction
from tumorapp.core import hooks as core_hooks
from tumorapp.core.hooks import Event, Provider
from tumorapp.inference import hooks as inference_hooks
from tumorapp.inference.services import run_create_for_ready_scan
from tumorapp.registry import selectors as registry_selectors
from tumorapp.scans import hooks as scans_hooks


def test_an_event_calls_its_subscribers_in_order_with_the_payload():
    # given an event with two subscribers, one of them subscribed twice
    event = Event("test.happened")
    calls = []

    def first(**payload):
        calls.append(("first", payload))

    def second(**payload):
        calls.append(("second", payload))

    event.subscribe(first)
    event.subscribe(second)
    event.subscribe(first)
    # when it is published
    event.publish(thing=1)
    # then each subscriber ran once, in the order they subscribed
    assert calls == [("first", {"thing": 1}), ("second", {"thing": 1})]


def test_a_subscriber_that_fails_stops_the_publisher():
    event = Event("test.happened")

    def broken(**payload):
        raise RuntimeError("the higher layer failed")

    event.subscribe(broken)
    with pytest.raises(RuntimeError, match="the higher layer failed"):
        event.publish()


def test_a_required_event_nobody_subscribed_to_is_a_wiring_mistake():
    with pytest.raises(ImproperlyConfigured, match="test.required"):
        Event("test.required", required=True).publish()
    Event("test.optional").publish()  # an optional one with no subscriber does nothing


def test_a_provider_answers_with_its_one_implementation():
    provider = Provider("test.answer")
    with pytest.raises(ImproperlyConfigured, match="No app provides 'test.answer'"):
        provider()
    provider.provide(lambda x: x * 2)
    assert provider(21) == 42
    with pytest.raises(ImproperlyConfigured, match="already provided"):
        provider.provide(lambda x: x)


def test_the_apps_wire_the_hooks_at_start_up():
    """Each upward call of the layer contract goes through a hook that the app above has
    wired in its AppConfig.ready (docs/architecture.md)."""
    assert run_create_for_ready_scan in scans_hooks.scan_ready._handlers
    assert case_open_for_prediction in inference_hooks.prediction_made._handlers
    assert inference_hooks.active_model._implementation is registry_selectors.active_model
    assert (
        inference_hooks.threshold_in_force._implementation is registry_selectors.effective_threshold
    )
    assert reviews_hooks.operating_point._implementation is registry_selectors.operating_point
    assert core_hooks.site_options._implementation == SiteOptions.current
