<%@ page session="false" contentType="text/plain; charset=UTF-8" trimDirectiveWhitespaces="true" %>
<%
  // Latch's health check. session="false": a check every 500 ms must not create sessions.
%>
ok
