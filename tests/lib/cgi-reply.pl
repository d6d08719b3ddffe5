#!/usr/bin/perl
# cgi-reply.pl REPLIES LOG: reads the responder's CGI output for tests/cgi.t,
# one long-lived process (a bash coprocess) instead of a handful of short
# ones per request.
#
# For each line "OUT ERR" on stdin (ERR may be "-": no stderr file):
#   - appends file OUT to REPLIES and file ERR to LOG, byte for byte;
#   - answers "STATUS CODE BODY-LENGTH LOG-LENGTH\n", then the body, then
#     the log, where
#       STATUS  is N of a first line "Status: N" (as common.sh's cgi_status),
#               "-" when there is none;
#       body    is what follows the first empty line of OUT (reply_body);
#       CODE    is json_code of the body (tests/lib/json_code.pl);
#       log     is the content of ERR;
#     body and log as bash's $(...) gives them: NUL bytes dropped, trailing
#     newlines removed.  Lengths are in bytes (the test runs with LC_ALL=C).
use strict;
use warnings;
use File::Basename qw(dirname);

require(dirname(__FILE__) . "/json_code.pl");

my ($replies, $log) = @ARGV;
die "usage: cgi-reply.pl REPLIES LOG\n" unless defined $log;
$| = 1;

sub slurp {
	open(my $f, "<:raw", $_[0]) or return "";
	local $/;
	return <$f> // "";
}
sub append {
	my ($to, $data) = @_;
	open(my $f, ">>:raw", $to) or die "cgi-reply.pl: $to: $!\n";
	print $f $data;
	close $f or die "cgi-reply.pl: $to: $!\n";
}
sub as_subst { my $s = shift; $s =~ tr/\0//d; $s =~ s/\n+\z//; return $s; }

binmode STDOUT;
while (my $line = <STDIN>) {
	chomp $line;
	my ($out, $err) = split / /, $line, 2;
	my $o = slurp($out);
	append($replies, $o);
	my $e = "";
	if (defined $err && $err ne "-") {
		$e = slurp($err);
		append($log, $e);
	}
	my ($first) = $o =~ /\A([^\n]*)/;
	my $status = $first =~ /^Status: ([0-9]*)/ ? $1 : "";
	my $body = $o =~ /\r?\n\r?\n/ ? substr($o, $+[0]) : "";
	$body = as_subst($body);
	$e = as_subst($e);
	printf "%s %s %d %d\n", length $status ? $status : "-", json_code($body),
		length $body, length $e;
	print $body, $e;
}
