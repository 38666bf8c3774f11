"""RELIABILITY 19: the access matrix. Every route, with every role and anonymous, answers as
the code declares (tests/urlwalk.py), and no object endpoint shows an object that the rules
(rules.py of tumorapp/accounts, tumorapp/scans and reviews) say the user may not see (no
IDOR on list, detail, image, heat map, review, export)."""

import pytest
from django.test import Client

from reviews import rules as case_rules
from reviews.services import case_open_for_prediction
from tests.factories import PredictionFactory, ScanFactory, UserFactory
from tests.urlwalk import PUBLIC, ROLES, SIGNED_IN, UNDECLARED, all_routes
from tumorapp.accounts import rules
from tumorapp.accounts.roles import Role
from tumorapp.audit.services import audit_record
from tumorapp.scans import rules as scan_rules

ROUTES = all_routes()
REFUSED = (403, 404)


def _role_of(role_name):
    return None if role_name == "none" else Role(role_name)


def _sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_walk_finds_every_kind_of_route():
    kinds = {r.kind for r in ROUTES}
    assert {PUBLIC, SIGNED_IN, ROLES} <= kinds
    names = {r.name for r in ROUTES}
    assert {"accounts:user_list", "audit:event_list", "audit:export", "core:home"} <= names


def test_every_route_declares_who_may_use_it():
    undeclared = [r.route for r in ROUTES if r.kind == UNDECLARED]
    assert not undeclared, (
        "routes with no access declaration: give the view roles (RoleRequiredMixin, HasRole) "
        f"or list it in tumorapp.accounts.rules: {undeclared}"
    )


def test_the_declared_lists_name_real_routes():
    names = {r.name for r in ROUTES}
    assert names >= rules.PUBLIC_URLS and names >= rules.SIGNED_IN_URLS


def test_admins_do_not_review_and_the_data_team_does_not_manage_users():
    by_name = {r.name: r for r in ROUTES}
    for name in ("accounts:user_list", "accounts:user_create", "audit:event_list", "audit:export"):
        assert by_name[name].roles == frozenset({Role.ADMIN}), name
    for route in ROUTES:
        if route.name.startswith("reviews:") and route.kind == ROLES and "review" in route.route:
            assert Role.ADMIN not in route.roles, route.route


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=[r.route or "/" for r in ROUTES])
def test_each_role_and_anonymous_get_what_the_matrix_declares(route, users):
    # anonymous: public routes answer; the rest send to sign-in (pages) or refuse (API)
    anonymous = Client()
    for method in ("get", "post"):
        response = getattr(anonymous, method)(route.url)
        if route.kind == PUBLIC:
            assert not _sent_to_sign_in(response) and response.status_code not in (401, 403)
            break  # never POST to public routes (sign-in, token): they have effects
        assert _sent_to_sign_in(response) or response.status_code in (401, 403), (
            f"anonymous {method.upper()} {route.url} -> {response.status_code}"
        )
    # each signed-in user: allowed roles get past the check, the others are refused
    for role_name, user in users.items():
        client = Client()
        client.force_login(user)
        response = client.get(route.url)
        if route.allows(_role_of(role_name)):
            assert not _sent_to_sign_in(response) and response.status_code not in (401, 403), (
                f"{role_name} refused at {route.url}"
            )
        else:
            assert response.status_code in REFUSED, f"{role_name} GET {route.url}"
            # a refused role cannot write either
            posted = client.post(route.url)
            assert posted.status_code in REFUSED, f"{role_name} POST {route.url}"


# --- object level: real objects behind every <uuid> route -------------------------------------


@pytest.fixture
def world(db):
    """One object of each kind, and for each the rule that says who may see it."""
    frank = UserFactory(username="frank", role=Role.TECHNOLOGIST)
    others_scan = ScanFactory(uploaded_by=frank)
    quarantined = ScanFactory(status="quarantined")
    objects = [
        ("another technologist's scan", others_scan, scan_rules.can_view_scan),
        ("a quarantined scan", quarantined, scan_rules.can_view_scan),
        ("a user", UserFactory(username="grace"), lambda u, _: rules.can_manage_users(u)),
        ("an audit event", audit_record(action="test.x"), lambda u, _: rules.can_read_audit(u)),
    ]
    prediction = PredictionFactory(run__scan=ScanFactory(uploaded_by=frank))
    case = case_open_for_prediction(prediction=prediction)
    objects.append(("a review case", case, case_rules.can_view_case))
    return objects


UUID_ROUTES = [r for r in ROUTES if r.takes_uuid]


def _may_use(route, user, obj, default_rule) -> bool:
    """The route's own object rule if rules.py declares one, else the object's default."""
    if route.name in scan_rules.ROUTE_OBJECT_RULES:
        model_label, rule = scan_rules.ROUTE_OBJECT_RULES[route.name]
        return obj._meta.label_lower == model_label and rule(user, obj)
    return default_rule(user, obj)


def test_route_object_rules_name_real_routes():
    assert set(scan_rules.ROUTE_OBJECT_RULES) <= {r.name for r in UUID_ROUTES}


def test_object_routes_exist():
    assert {"accounts:user_detail", "audit:event_detail"} <= {r.name for r in UUID_ROUTES}


@pytest.mark.django_db
@pytest.mark.parametrize("route", UUID_ROUTES, ids=[r.route for r in UUID_ROUTES])
def test_no_object_route_shows_what_the_rules_hide(route, users, world):
    seen = 0
    for role_name, user in users.items():
        client = Client()
        client.force_login(user)
        for label, obj, may_see in world:
            url = route.url_with(str(obj.public_id))
            response = client.get(url)
            if not _may_use(route, user, obj, may_see) or not route.allows(_role_of(role_name)):
                if response.status_code == 405:  # a POST-only action: try it; it must refuse
                    response = client.post(url)
                assert response.status_code in REFUSED, (
                    f"IDOR: {role_name} got {response.status_code} for {label} at {route.route}"
                    " (if this route rightly shows it, declare its rule in "
                    "tumorapp.scans.rules.ROUTE_OBJECT_RULES)"
                )
            elif response.status_code == 200:
                seen += 1
    # the matrix is not vacuous: on GET routes someone may see something
    if route.name in ("accounts:user_detail", "audit:event_detail"):
        assert seen, f"nobody could open any object at {route.route}"
