(function(){
  document.querySelectorAll("svg.graph").forEach(function(svg){
    var edges = svg.querySelectorAll(".edge");
    svg.querySelectorAll(".node").forEach(function(node){
      var id = node.getAttribute("data-node");
      node.addEventListener("mouseenter", function(){
        svg.classList.add("focus"); node.classList.add("hl");
        edges.forEach(function(edge){
          var a = edge.getAttribute("data-a"), b = edge.getAttribute("data-b");
          if (a === id || b === id) {
            edge.classList.add("hl");
            var other = svg.querySelector('.node[data-node="' + (a === id ? b : a) + '"]');
            if (other) other.classList.add("hl");
          }
        });
      });
      node.addEventListener("mouseleave", function(){
        svg.classList.remove("focus");
        svg.querySelectorAll(".hl").forEach(function(el){ el.classList.remove("hl"); });
      });
    });
  });
})();
