#!/usr/bin/perl
# json_code.pl: prints N when the JSON text on stdin is exactly
# {"code":N,"msg":"..."} (an integer N, a string msg, no other member), and
# "bad" otherwise.  common.sh's json_code runs it; tests/lib/cgi-reply.pl
# loads it with require and calls json_code(TEXT).
#
# Perl, not python3: it runs once per request in the CGI tests, and perl
# starts several times faster.  JSON::PP is part of core perl.
use strict;
use warnings;

sub json_code {
	my ($in) = @_;
	# The form the responder writes, checked without loading the parser:
	# an integer literal, a string that is valid UTF-8 once unescaped.
	if ($in =~ /\A[ \t\n\r]*\{"code":(-?(?:0|[1-9][0-9]{0,17})),"msg":"((?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*)"\}[ \t\n\r]*\z/) {
		my ($code, $msg) = ($1, $2);
		return 0 + $code if utf8::decode($msg);
	}
	# Anything else: a real JSON parser.  A number is an integer only when
	# written as one (2.0 and 2e0 are not; a huge one is a Math::BigInt).
	require JSON::PP;
	require B;
	my $d = eval { JSON::PP->new->utf8->allow_bignum->decode($in) };
	my $flags = sub { B::svref_2object(\$_[0])->FLAGS };
	return "bad" unless ref $d eq "HASH" && keys %$d == 2 && exists $d->{code} && exists $d->{msg};
	my ($c, $m) = ($d->{code}, $d->{msg});
	my $int = ref $c ? ref $c eq "Math::BigInt"
		: ($flags->($c) & B::SVf_IOK()) && !($flags->($c) & (B::SVf_NOK() | B::SVf_POK()));
	my $str = !ref $m && ($flags->($m) & B::SVf_POK()) && !($flags->($m) & (B::SVf_IOK() | B::SVf_NOK()));
	return $int && $str ? "$c" : "bad";
}

unless (caller) {
	binmode STDIN;
	print json_code(do { local $/; <STDIN> } // ""), "\n";
}
1;
