// Starts Swagger UI on /docs (a file, not an inline script, so that the page works under the CSP).
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // the default badge asks validator.swagger.io: no internet, and no leak of the schema
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
