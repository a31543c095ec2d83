"""Smoke runs: recipe code on a tiny sample, in a limited child process, never in the API."""
