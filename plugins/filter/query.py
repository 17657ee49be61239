# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: query
short_description: A JMESPath query on structured data, with named parameters
version_added: 0.1.0
author: homelab.photon contributors
description:
  - Runs a JMESPath expression (U(https://jmespath.org)) on the input, on the controller.
  - Named parameters are written C($name) in the expression and given as keyword arguments; each is put in
    as a JSON literal, so a value with quotes or backticks cannot change the query.
  - Needs the Python package C(jmespath) on the controller (it is in the collection's C(requirements.txt)).
positional: _input, expression
options:
  _input:
    description: The data to query (lists and dictionaries, as facts and API answers are).
    type: raw
    required: true
  expression:
    description: The JMESPath expression; C($name) stands for the keyword argument C(name).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The facts the vm stage recorded for this host's VM (or nothing)
  ansible.builtin.debug:
    msg: >-
      {{ groups['vsphere'] | map('extract', hostvars) | selectattr('vm_info', 'defined') | map(attribute='vm_info')
         | list | homelab.photon.query('[?name == $name] | [0]', name=inventory_hostname) }}
"""

RETURN = r"""
_value:
  description: What the expression selects (null when nothing matches).
  type: raw
"""

import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _literal(value):
    """VALUE as a JMESPath JSON literal (backquoted; a backquote inside is escaped)."""
    return "`%s`" % json.dumps(value).replace("`", "\\`")


def bind(expression, params):
    """The expression with every $name replaced by the literal of params[name]."""
    unknown = sorted(set(_PARAMETER.findall(expression)) - set(params))
    if unknown:
        raise AnsibleFilterError("query: no value given for %s in %r" % (", ".join("$" + n for n in unknown), expression))
    return _PARAMETER.sub(lambda match: _literal(params[match.group(1)]), expression)


def _plain(value):
    """Plain JSON data from Ansible's containers (mappings that are not dicts, unsafe strings)."""
    if isinstance(value, Mapping):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def query(data, expression, **params):
    if not HAS_JMESPATH:
        raise AnsibleFilterError("homelab.photon.query needs the Python package jmespath on the controller "
                                 "(pip install jmespath)")
    if not isinstance(expression, str):
        raise AnsibleFilterError("query: the expression must be a string, got %s" % type(expression).__name__)
    bound = bind(expression, params)
    try:
        return jmespath.search(bound, _plain(data))
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleFilterError("query: %s is not a valid JMESPath expression: %s" % (expression, exc))


class FilterModule(object):
    def filters(self):
        return {"query": query}
