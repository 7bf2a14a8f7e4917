"""Identity: the person registry, enrolment with 1:N de-duplication, and the internet ID.

See ``docs/identity.md``.
"""
