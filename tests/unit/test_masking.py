from __future__ import annotations

import logging

import pytest

from runner.masking import MASK, Masker, MaskingFilter, secret_values_from_env


def test_secret_looking_names_are_collected() -> None:
    env = {"GITLAB_TOKEN": "glpat-abcdef123", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
           "DB_PASSWORD": "hunter22", "API_KEY": "key-123456", "MY_CREDENTIALS": "creds-99999",
           "HOME": "/root", "PATH": "/usr/bin"}
    assert sorted(secret_values_from_env(env)) == sorted(
        ["glpat-abcdef123", "s3cr3t-value", "hunter22", "key-123456", "creds-99999"])


def test_mask_replaces_every_occurrence_longest_first() -> None:
    masker = Masker(["abcdef", "abcdefgh"])
    assert masker.mask("x abcdefgh y abcdef z") == f"x {MASK} y {MASK} z"


def test_short_and_boolean_values_are_not_masked() -> None:
    masker = Masker(["1", "true", "abc", "False"])
    assert not masker
    assert masker.mask("true 1 abc") == "true 1 abc"


def test_json_escaped_form_is_masked_too() -> None:
    masker = Masker(['pa"ss\\word'])
    assert MASK in masker.mask('{"v": "pa\\"ss\\\\word"}')


def test_mask_obj_masks_nested_keys_and_values() -> None:
    masker = Masker(["topsecret"])
    data = {"a": ["x topsecret", {"topsecret": 1}], "b": 2.5}
    assert masker.mask_obj(data) == {"a": [f"x {MASK}", {MASK: 1}], "b": 2.5}


def test_logging_filter_masks_formatted_message(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("runner.test_masking")
    handler_filter = MaskingFilter(Masker(["glpat-SECRET1"]))
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="runner.test_masking"):
            logger.info("token is %s", "glpat-SECRET1")
    finally:
        logger.removeFilter(handler_filter)
    assert "glpat-SECRET1" not in caplog.text
    assert MASK in caplog.text
