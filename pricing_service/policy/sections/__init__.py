"""One builder per section of a policy document, each recording its problems on a Checker.

A builder reads its table, checks every field (a problem for each bad one, in the
order the fields are read) and returns what it could build; `document.build_policy`
calls them in document order and refuses the policy if any problem was recorded.
"""
