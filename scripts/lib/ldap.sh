# shellcheck shell=bash
# A throw-away slapd holding N generated people, for benchmarks and crash trials. Source
# from a script that has done `cd "$(dirname "$0")/.."`; needs slapd and ldap-utils.
#
#   ldap_people_ldif N FILE [TITLE]  N people (uid agent000000…) in 10 teams nested in one
#                                    "all-agents" group; memberOf is written into the LDIF,
#                                    since slapadd bypasses the memberof overlay
#   ldap_bulk_start DIR FILE         a slapd config in DIR (tests/fixtures/ldap), FILE loaded
#                                    with `slapadd -q`, slapd started on a free loopback port;
#                                    sets LDAP_URL, LDAP_PID and LDAP_LOAD_SECS
#   ldap_stop                        stops that slapd

LDAP_BASE="dc=example,dc=com"
LDAP_ADMIN="cn=admin,$LDAP_BASE"
LDAP_PASSWORD=secret
LDAP_URL=""
LDAP_PID=""
LDAP_LOAD_SECS=""

ldap_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ldap_people_ldif() {
  local n=$1 file=$2 title=${3:-Agent}
  awk -v n="$n" -v base="$LDAP_BASE" -v title="$title" 'BEGIN {
    teams = 10
    print "dn: " base "\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n"
    print "dn: ou=people," base "\nobjectClass: organizationalUnit\nou: people\n"
    print "dn: ou=groups," base "\nobjectClass: organizationalUnit\nou: groups\n"
    for (i = 0; i < n; i++) {
      id = sprintf("agent%06d", i)
      printf "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\n", id, base, id
      printf "cn: Agent %d\ngivenName: Agent\nsn: Number %d\ndisplayName: Agent %d\n", i, i, i
      printf "mail: %s@example.com\ntelephoneNumber: +1 555 %06d\nemployeeNumber: E%06d\n", id, i, i
      printf "departmentNumber: Support %d\ntitle: %s\n", i % teams, title
      if (i >= teams) printf "manager: uid=agent%06d,ou=people,%s\n", i % teams, base
      printf "memberOf: cn=team-%d,ou=groups,%s\n\n", i % teams, base
    }
    for (t = 0; t < teams; t++) {
      printf "dn: cn=team-%d,ou=groups,%s\nobjectClass: groupOfNames\ncn: team-%d\n", t, base, t
      printf "memberOf: cn=all-agents,ou=groups,%s\n", base
      for (i = t; i < n; i += teams) printf "member: uid=agent%06d,ou=people,%s\n", i, base
      print ""
    }
    printf "dn: cn=all-agents,ou=groups,%s\nobjectClass: groupOfNames\ncn: all-agents\n", base
    for (t = 0; t < teams; t++) printf "member: cn=team-%d,ou=groups,%s\n", t, base
  }' >"$file"
}

ldap_bulk_start() {
  local dir=$1 file=$2 port t0 t1
  export PATH="$PATH:/usr/sbin"
  port=$((20000 + RANDOM % 20000))
  while ! ldap_port_free "$port"; do port=$((20000 + RANDOM % 20000)); done
  LDAP_URL="ldap://127.0.0.1:$port/"
  mkdir -p "$dir/slapd.d" "$dir/data"
  sed -e "s|@DIR@|$dir|g" -e "s|@FIXTURES@|$PWD/tests/fixtures/ldap|g" \
    -e "s|@SIZELIMIT@|size.soft=1000 size.hard=unlimited size.pr=unlimited size.prtotal=unlimited|" \
    tests/fixtures/ldap/slapd-config.ldif >"$dir/config.ldif"
  slapadd -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >/dev/null
  t0=$(date +%s.%N)
  slapadd -q -n1 -F "$dir/slapd.d" -l "$file"
  t1=$(date +%s.%N)
  LDAP_LOAD_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  slapd -d 0 -h "$LDAP_URL" -F "$dir/slapd.d" >"$dir/slapd.log" 2>&1 &
  LDAP_PID=$!
  for _ in $(seq 1 500); do
    ldap_port_free "$port" || break
    sleep 0.02
  done
  ldapsearch -x -H "$LDAP_URL" -b "$LDAP_BASE" -s base >/dev/null
}

ldap_stop() {
  if [ -n "$LDAP_PID" ]; then
    kill "$LDAP_PID" 2>/dev/null || true
    wait "$LDAP_PID" 2>/dev/null || true
    LDAP_PID=""
  fi
}
