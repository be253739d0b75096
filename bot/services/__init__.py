"""Domain services: plain values in, results and outbox rows out. No aiogram here."""
