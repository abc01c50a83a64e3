-- Derives `ratings` from classicmodels purchases (run by `reco source load-classicmodels`).
--
-- One rating per distinct (customer, product) pair found in orders/orderdetails, whatever
-- the order status (2,532 pairs, 98 customers, 109 products in classicmodels 3.1).
--
-- Rule (deterministic): among all buyers of a product, the customers are ranked by the
-- total quantity of that product they ordered (ties broken by customerNumber), and the
-- ranking is cut into five equal tiles: the top fifth of buyers by quantity rate it 5,
-- the bottom fifth 1. "Customers who bought more of a product than its other buyers like
-- it more" — it spreads ratings evenly over 1..5 per product and uses only purchase data.
DELETE FROM ratings;

INSERT INTO ratings (customerNumber, productCode, productRating)
SELECT customerNumber, productCode,
       NTILE(5) OVER (PARTITION BY productCode ORDER BY totalQuantity, customerNumber)
FROM (
  SELECT o.customerNumber, d.productCode, SUM(d.quantityOrdered) AS totalQuantity
  FROM orders o
  JOIN orderdetails d ON d.orderNumber = o.orderNumber
  GROUP BY o.customerNumber, d.productCode
) AS purchases;
