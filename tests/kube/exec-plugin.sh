#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# exec-plugin.sh — a real client.authentication.k8s.io credential plugin for test_kube_live: kerf runs it as
# a kubeconfig's users[].user.exec.command and reads the ExecCredential it prints.
#
# Set through the kubeconfig's exec.env (which is part of what is tested):
#   PLUGIN_PKI      the test control plane's pki folder (admin.crt, admin.key, tokens.csv)
#   PLUGIN_MODE     cert: the admin client certificate and key; token: the test user's static token;
#                   bad-first: a wrong token on the first run, the right one afterwards; fail: exit 3
#   PLUGIN_COUNTER  a file counting the runs (one line per run)
#   PLUGIN_TTL      seconds until status.expirationTimestamp (none when unset)
#   PLUGIN_INFO     where to save $KUBERNETES_EXEC_INFO and whether stdin was a terminal
# The apiVersion printed is the first argument (the kubeconfig's exec.args), so a mismatch can be tested.
set -eu
api=${1:-client.authentication.k8s.io/v1}
echo run >> "$PLUGIN_COUNTER"
runs=$(wc -l < "$PLUGIN_COUNTER")
if [ -n "${PLUGIN_INFO:-}" ]; then
	{
		printf '%s\n' "${KUBERNETES_EXEC_INFO:-unset}"
		if [ -t 0 ]; then echo "stdin: terminal"; else echo "stdin: not a terminal"; fi
	} > "$PLUGIN_INFO"
fi
# PEM as a JSON string: every line ends in \n.
pem_json() { awk '{ printf "%s\\n", $0 }' "$1"; }
exp=
if [ -n "${PLUGIN_TTL:-}" ]; then
	exp=", \"expirationTimestamp\": \"$(date -u -d "+$PLUGIN_TTL seconds" +%Y-%m-%dT%H:%M:%SZ)\""
fi
case $PLUGIN_MODE in
cert)
	status="\"clientCertificateData\": \"$(pem_json "$PLUGIN_PKI/admin.crt")\", \"clientKeyData\": \"$(pem_json "$PLUGIN_PKI/admin.key")\"" ;;
token)
	status="\"token\": \"$(cut -d, -f1 "$PLUGIN_PKI/tokens.csv")\"" ;;
bad-first)
	if [ "$runs" -eq 1 ]; then tok=not-a-valid-token; else tok=$(cut -d, -f1 "$PLUGIN_PKI/tokens.csv"); fi
	status="\"token\": \"$tok\"" ;;
fail)
	echo "error: the token service at https://sso.example is unreachable" >&2
	echo "second line, not shown" >&2
	exit 3 ;;
*)
	echo "unknown PLUGIN_MODE $PLUGIN_MODE" >&2
	exit 2 ;;
esac
printf '{"apiVersion": "%s", "kind": "ExecCredential", "status": {%s%s}}\n' "$api" "$status" "$exp"
