"""config.yaml -> Settings. Import the public names from bot.settings.config (load_config, Settings, the sections).

base: the model base, timezones, the environment; accounts, campaigns (with their schedules), delivery, replies,
graph, segments, coupons, products: one section each; root: Settings; crosschecks: checks across sections;
loading: load_config with file:line problems; yamlpos: YAML with positions; cronspec: crontab syntax.
"""
