"""Tests that drive a real browser (headless Chromium through Playwright)."""
