// Rollcall's admin API document in Swagger UI ("Authorize" takes an API token).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#api-docs",
    deepLinking: true,
    persistAuthorization: false,
  });
};
