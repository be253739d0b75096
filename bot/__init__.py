"""Gongzhi (共治): the application — config, app factory, i18n, rendering, delivery, services."""
