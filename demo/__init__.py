"""The scripted demo (`ketenbus demo`): the story of one child through a running backbone, and
the arrangements scenario with its event builders (`ketenbus arrangements scenario`, the tests).

It acts as the partners do, from outside: it imports the partner kit, the adapters and the
plan's reader and renderer, and nothing of the backbone imports it (only the CLI's `demo` and
`arrangements scenario` commands).
"""
