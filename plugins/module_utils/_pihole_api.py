# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of the Pi-hole v6 REST API (FTL's /api), and its error messages.

One session per task: login() once, every call with the session id (header X-FTL-SID), logout()
in a finally block by the caller. Every request is counted (calls), so a task can report how many
API calls it made. Failures raise PiholeError with a message that names the cause and what to do;
the message functions are pure, so the unit tests feed them what a real FTL v6.3.3 answered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import ssl
import time

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.homelab.photon.plugins.module_utils._pihole_plan import ENV_MESSAGE, env_var_message

# FTL's answer to a login when every session seat is taken (webserver.api.max_sessions).
SEATS_KEY = 'api_seats_exceeded'
RATE_KEY = 'rate_limiting'


# FTL's answer while gravity.db is being swapped (src/database/gravity-db.c), and how long to wait for it.
DB_UNAVAILABLE = 'Database not available'
DB_WAIT = 30


# The connection options of every Pi-hole API module (documented in doc_fragments/pihole.py).
CONNECTION_SPEC = dict(
    url=dict(type='str', default='http://127.0.0.1'),
    password=dict(type='str', required=True, no_log=True),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    use_proxy=dict(type='bool', default=False),
)


def database_unavailable(status, body):
    """Whether FTL refused the call only because gravity.db was not open (nothing was applied)."""
    if status == 400:
        return parse_error_body(body)[2] == DB_UNAVAILABLE
    if status in (200, 201):
        try:
            processed = json.loads(body.decode('utf-8')).get('processed') or {}
        except (ValueError, AttributeError, UnicodeDecodeError):
            return False
        errors = processed.get('errors') or []
        return bool(errors) and not processed.get('success') and all(
            error.get('error') == DB_UNAVAILABLE for error in errors)
    return False


class PiholeError(Exception):
    """A failure with a message for the user; details go into the task result."""

    def __init__(self, msg, **details):
        super(PiholeError, self).__init__(msg)
        self.msg = msg
        self.details = details


def item_path(value):
    """A list/domain/group/client as one URI path segment (addresses and regexes carry / ? # %)."""
    return quote(value, safe='')


def parse_error_body(body):
    """(key, message, hint) from FTL's JSON error body; (None, None, None) when there is none."""
    try:
        data = json.loads(body.decode('utf-8') if isinstance(body, bytes) else body)
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None, None, None
    if not isinstance(data, dict):
        return None, None, None
    error = data.get('error')
    if isinstance(error, dict):
        return error.get('key'), error.get('message'), error.get('hint')
    session = data.get('session')
    if isinstance(session, dict):
        return 'session', session.get('message'), None
    return None, None, None


def _snippet(body, limit=120):
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    text = ' '.join((body or '').split())
    return text[:limit] + ('...' if len(text) > limit else '')


def login_error_message(url, status, body):
    """What a failed POST /api/auth means, for the user."""
    key, message, hint = parse_error_body(body)
    if status == 401:
        if key == 'session' or key == 'unauthorized' or key is None:
            detail = message or 'password incorrect'
            return ('Wrong password: the Pi-hole at %s refused the login (HTTP 401, %r). Give the web interface '
                    'password (or an app password) of this Pi-hole.' % (url, detail))
    if status == 429 and key == SEATS_KEY:
        return ('No free API session on the Pi-hole at %s: every seat is taken (HTTP 429 %s, hint: %s). '
                'Sessions end when their clients log out or after webserver.session.timeout; log out other '
                'API clients, wait, or raise webserver.api.max_sessions.' % (url, message or key, hint or '-'))
    if status == 429:
        return ('The Pi-hole at %s rate-limits logins (HTTP 429 %s): wait a minute and run again.'
                % (url, message or key or 'Too many requests'))
    if status == 400 and key == 'bad_request' and message and '2FA' in message:
        return ('The Pi-hole at %s has two-factor authentication on (%s): create an app password '
                '(Settings > Web interface / API) and give that as password.' % (url, message))
    if key is None:
        return not_pihole_message(url, 'POST /api/auth', status, body)
    return 'Login to the Pi-hole at %s failed: HTTP %s %s%s' % (url, status, message or key, ' (%s)' % hint if hint else '')


def not_pihole_message(url, what, status, body):
    return ('%s does not answer as a Pi-hole v6 API: %s gave HTTP %s %s. Check url (scheme, host, web port, '
            'no path after the port unless webserver.paths.prefix is set); Pi-hole v5 has no REST API.'
            % (url, what, status, repr(_snippet(body)) if body else '(no body)'))


def api_error_message(method, path, status, body):
    """What a failed API call means; the hint FTL gives names the item or setting."""
    key, message, hint = parse_error_body(body)
    if message == ENV_MESSAGE and hint:
        return env_var_message(hint, None)
    if status == 401:
        return ('The API session ended during the task (HTTP 401 for %s %s): the password may have been changed '
                'or the session deleted meanwhile; run again.' % (method, path))
    if key is None and message is None:
        return 'Pi-hole answered HTTP %s to %s %s: %s' % (status, method, path, _snippet(body) or '(no body)')
    text = 'Pi-hole refused %s %s: %s' % (method, path, message or key)
    if hint:
        text += ' (%s)' % hint
    return text


def transport_error_message(url, exc):
    """A connection that failed before any HTTP answer: unreachable, refused, TLS, timeout."""
    reason = getattr(exc, 'reason', exc)
    host = urlsplit(url).netloc or url
    if isinstance(reason, ssl.SSLError) or 'CERTIFICATE_VERIFY_FAILED' in str(reason) or \
            reason.__class__.__name__ in ('CertificateError', 'SSLCertVerificationError'):
        return ('The TLS certificate of %s could not be verified (%s): give the CA that signed it with ca_path, '
                'use the http:// URL on a trusted network, or set validate_certs=false.' % (url, reason))
    if isinstance(reason, (socket.timeout,)) or 'timed out' in str(reason):
        return ('%s did not answer in time (%s): check that the address and web port are right and that no '
                'firewall drops the connection.' % (url, reason))
    if isinstance(reason, ConnectionRefusedError) or 'Connection refused' in str(reason):
        return ('Cannot reach the Pi-hole at %s: connection refused by %s. Is the container running and the web '
                'port (pihole_web_port) the one in url?' % (url, host))
    if isinstance(reason, socket.gaierror) or 'Name or service not known' in str(reason):
        return 'Cannot reach the Pi-hole at %s: the host name %s does not resolve (%s).' % (url, host, reason)
    return 'Cannot reach the Pi-hole at %s: %s' % (url, reason)


class PiholeApi(object):
    """The session and the calls of one task."""

    def __init__(self, url, password, validate_certs=True, ca_path=None, timeout=30, use_proxy=False, opener=None):
        self.url = url.rstrip('/')
        self.password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.use_proxy = use_proxy
        self._open = opener or open_url
        self.sid = None
        self.logged_in = False
        self.calls = []

    # -- raw requests -----------------------------------------------------------------------

    def _raw(self, method, path, data=None, headers=None, timeout=None):
        """(status, body bytes); transport failures raise PiholeError."""
        headers = dict(headers or {})
        headers.setdefault('Accept', 'application/json')
        if self.sid:
            headers['X-FTL-SID'] = self.sid
        entry = '%s %s' % (method, path)
        self.calls.append(entry)
        try:
            response = self._open(self.url + path, data=data, headers=headers, method=method,
                                  timeout=timeout or self.timeout, validate_certs=self.validate_certs,
                                  ca_path=self.ca_path, use_proxy=self.use_proxy, follow_redirects='none')
            status = response.getcode()
            body = response.read()
        except HTTPError as exc:
            status = exc.code
            try:
                body = exc.read()
            except Exception:  # pylint: disable=broad-except
                body = b''
        except (URLError, socket.error, ssl.SSLError, HTTPException, ValueError) as exc:
            raise PiholeError(transport_error_message(self.url, exc), url=self.url)
        return status, body

    def call(self, method, path, body=None, ok=(200,), timeout=None, allow=()):
        """A JSON call; returns (status, parsed JSON or None). Statuses not in ok (nor allow) raise.

        While FTL swaps gravity.db (after a gravity run, for a few hundred milliseconds) every list,
        domain, group and client call fails with "Database not available" and changes nothing: such
        calls are repeated for up to DB_WAIT seconds."""
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        deadline = time.time() + DB_WAIT
        while True:
            status, raw = self._raw(method, path, data=data, headers=headers, timeout=timeout)
            if not database_unavailable(status, raw) or time.time() > deadline:
                break
            time.sleep(0.25)
        if status not in ok and status not in allow:
            raise PiholeError(api_error_message(method, path.split('?')[0], status, raw), status=status,
                              response=_snippet(raw, 400))
        parsed = None
        if raw and raw.strip():
            try:
                parsed = json.loads(raw.decode('utf-8'))
            except (ValueError, UnicodeDecodeError):
                if status in ok:
                    raise PiholeError(not_pihole_message(self.url, '%s %s' % (method, path), status, raw))
        return status, parsed

    # -- the session ------------------------------------------------------------------------

    def login(self):
        status, raw = self._raw('POST', '/api/auth', data=json.dumps({'password': self.password}).encode('utf-8'),
                                headers={'Content-Type': 'application/json'})
        data = None
        try:
            data = json.loads(raw.decode('utf-8')) if raw else None
        except (ValueError, UnicodeDecodeError):
            data = None
        if status != 200:
            raise PiholeError(login_error_message(self.url, status, raw), status=status)
        session = data.get('session') if isinstance(data, dict) else None
        if not isinstance(session, dict):
            raise PiholeError(not_pihole_message(self.url, 'POST /api/auth', status, raw))
        if not session.get('valid'):
            raise PiholeError(login_error_message(self.url, 401, raw), status=status)
        # A Pi-hole without a password answers valid with no sid: calls need no session then.
        self.sid = session.get('sid')
        self.logged_in = bool(self.sid)
        return session

    def logout(self):
        """End the session (FTL has a limited number); never raises."""
        if not self.logged_in:
            return True
        try:
            status, dummy = self._raw('DELETE', '/api/auth')
        except PiholeError:
            return False
        self.logged_in = False
        self.sid = None
        return status in (204, 401, 404, 410)

    # -- helpers ----------------------------------------------------------------------------

    def wait_restart(self, since, timeout):
        """Wait until FTL answers again after an internal restart caused by a request sent at `since`
        (time.time() just before it was sent).

        FTL re-executes itself after a change that needs it (the API answered before that); its
        uptime (ms, /api/info/ftl) starts again from 0. The FTL that answered the request started
        before `since` (it also answered this task's login), the restarted one after: a process
        younger than the time since `since` is the restarted one. Returns the seconds waited;
        raises PiholeError after timeout.
        """
        deadline = time.time() + timeout
        started = time.time()
        while True:
            try:
                status, raw = self._raw('GET', '/api/info/ftl', timeout=5)
                if status == 401:
                    # The restarted FTL did not restore this session (webserver.session.restore=false).
                    self.logged_in = False
                    return time.time() - started
                if status == 200:
                    uptime = json.loads(raw.decode('utf-8'))['ftl']['uptime'] / 1000.0
                    if uptime < time.time() - since:
                        return time.time() - started
            except (PiholeError, ValueError, KeyError, TypeError):
                pass
            if time.time() > deadline:
                raise PiholeError('FTL did not answer again within %d s after the restart that the changed settings '
                                  'need; look at the container (docker logs) before running again.' % timeout)
            time.sleep(0.25)

    def gravity_last_update(self):
        """When the gravity.db FTL uses was built (its `updated` timestamp, /api/stats/summary)."""
        dummy, data = self.call('GET', '/api/stats/summary')
        return ((data or {}).get('gravity') or {}).get('last_update')

    def gravity(self, timeout, reload_timeout=60):
        """POST /api/action/gravity: FTL streams the output of `pihole -g` until it ends. Then wait
        until FTL uses the new database: FTL notices it within a second and reloads it (while it does,
        a blocked domain can slip through); the reload is done once its timestamp is the new one and a
        read of gravity.db answers. Returns the output and whether the reload was seen."""
        # Right after FTL (re)started, it has not read the timestamp yet (0): it does within a second.
        before = self.gravity_last_update()
        deadline = time.time() + 5
        while not before and time.time() < deadline:
            time.sleep(0.25)
            before = self.gravity_last_update()
        status, raw = self._raw('POST', '/api/action/gravity', timeout=timeout)
        if status != 200:
            raise PiholeError(api_error_message('POST', '/api/action/gravity', status, raw), status=status)
        deadline = time.time() + reload_timeout
        reloaded = False
        while time.time() < deadline:
            current = self.gravity_last_update()
            if current and current > (before or 0):
                # FTL reloads right after it notices the new timestamp, holding the lock a read waits for;
                # a read then also waits out the reload's "Database not available".
                time.sleep(0.2)
                self.call('GET', '/api/groups')
                reloaded = True
                break
            time.sleep(0.25)
        return raw.decode('utf-8', 'replace'), reloaded

    def teleporter_export(self, timeout=None):
        status, raw = self._raw('GET', '/api/teleporter', headers={'Accept': 'application/zip'}, timeout=timeout)
        if status != 200:
            raise PiholeError(api_error_message('GET', '/api/teleporter', status, raw), status=status)
        return raw

    def teleporter_import(self, archive, import_spec=None, timeout=None):
        boundary = 'homelab-photon-%d' % int(time.time() * 1000000)
        parts = [('--%s\r\nContent-Disposition: form-data; name="file"; filename="teleporter.zip"\r\n'
                  'Content-Type: application/zip\r\n\r\n' % boundary).encode('ascii') + archive + b'\r\n']
        if import_spec is not None:
            parts.append(('--%s\r\nContent-Disposition: form-data; name="import"\r\n\r\n%s\r\n'
                          % (boundary, json.dumps(import_spec))).encode('utf-8'))
        body = b''.join(parts) + ('--%s--\r\n' % boundary).encode('ascii')
        status, raw = self._raw('POST', '/api/teleporter', data=body,
                                headers={'Content-Type': 'multipart/form-data; boundary=%s' % boundary},
                                timeout=timeout)
        if status != 200:
            raise PiholeError(api_error_message('POST', '/api/teleporter', status, raw), status=status)
        try:
            return json.loads(raw.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise PiholeError(not_pihole_message(self.url, 'POST /api/teleporter', status, raw))


def query(params):
    return '?' + urlencode(params) if params else ''
