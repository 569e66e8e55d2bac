"""`locust -f locustfiles/llm_login.py --web-login ...`: the LLM benchmark behind a login.

Locust's --web-login shows a login page and leaves the check to the locustfile; this one accepts
the single user named by LLMBENCH_UI_USER / LLMBENCH_UI_PASSWORD (compared in constant time).
"""

import hmac
import os

from flask import Blueprint, redirect, request, session, url_for
from flask_login import UserMixin, login_user
from locust import events

from llmbench_locust.ladder import ConcurrencyLadder  # noqa: F401
from llmbench_locust.user import LLMUser  # noqa: F401


class UiUser(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


def credentials_match(username: str, password: str) -> bool:
    expected_user = os.environ.get("LLMBENCH_UI_USER", "")
    expected_password = os.environ.get("LLMBENCH_UI_PASSWORD", "")
    if not expected_user or not expected_password:
        return False  # no credentials configured: nobody gets in
    user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
    password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
    return user_ok and password_ok


@events.init.add_listener
def _login(environment, **_kw):
    web_ui = environment.web_ui
    if not web_ui or not environment.parsed_options.web_login:
        return
    base = environment.parsed_options.web_base_path or ""
    web_ui.app.config["SECRET_KEY"] = os.urandom(32)
    web_ui.login_manager.user_loader(UiUser)
    web_ui.auth_args = {"username_password_callback": f"{base}/login_submit"}
    auth = Blueprint("llm_login", __name__, url_prefix=base)

    @auth.route("/login_submit", methods=["POST"])
    def login_submit():
        username = request.form.get("username", "")
        if credentials_match(username, request.form.get("password", "")):
            login_user(UiUser(username))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))

    web_ui.app.register_blueprint(auth)
