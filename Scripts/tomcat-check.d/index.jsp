<%@ page contentType="text/plain; charset=UTF-8" trimDirectiveWhitespaces="true" %>
<%
  // Counts the requests of one session. The node name is the instance's own -DjvmRoute, not read
  // from the session id, so a session served by its replica shows the replica's name.
  Integer hits = (Integer) session.getAttribute("hits");
  hits = hits == null ? 1 : hits + 1;
  session.setAttribute("hits", hits);
%>
node=<%= System.getProperty("jvmRoute") %> session=<%= session.getId() %> hits=<%= hits %>
