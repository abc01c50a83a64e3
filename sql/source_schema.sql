-- Source schema the batch pipeline expects (MySQL / MariaDB).
--
-- The classicmodels tables reco reads (same columns and types as the classicmodels sample
-- database, version 3.1) plus `ratings`. `reco source generate` creates these tables; after
-- `reco source load-classicmodels` the dump has created the classicmodels ones and only
-- `ratings` is new (every statement is IF NOT EXISTS).
--
-- The ETL reads customers, products and ratings; it checks their columns and types before
-- extracting (see crates/reco-etl/src/source_check.rs).

CREATE TABLE IF NOT EXISTS productlines (
  productLine varchar(50) NOT NULL,
  textDescription varchar(4000) DEFAULT NULL,
  htmlDescription mediumtext,
  image mediumblob,
  PRIMARY KEY (productLine)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS products (
  productCode varchar(15) NOT NULL,
  productName varchar(70) NOT NULL,
  productLine varchar(50) NOT NULL,
  productScale varchar(10) NOT NULL,
  productVendor varchar(50) NOT NULL,
  productDescription text NOT NULL,
  quantityInStock smallint(6) NOT NULL,
  buyPrice decimal(10,2) NOT NULL,
  MSRP decimal(10,2) NOT NULL,
  PRIMARY KEY (productCode),
  KEY productLine (productLine),
  CONSTRAINT products_ibfk_1 FOREIGN KEY (productLine) REFERENCES productlines (productLine)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- salesRepEmployeeNumber references `employees` in classicmodels; generated sources have no
-- employees, so the column stays (nullable) without that foreign key here.
CREATE TABLE IF NOT EXISTS customers (
  customerNumber int(11) NOT NULL,
  customerName varchar(50) NOT NULL,
  contactLastName varchar(50) NOT NULL,
  contactFirstName varchar(50) NOT NULL,
  phone varchar(50) NOT NULL,
  addressLine1 varchar(50) NOT NULL,
  addressLine2 varchar(50) DEFAULT NULL,
  city varchar(50) NOT NULL,
  state varchar(50) DEFAULT NULL,
  postalCode varchar(15) DEFAULT NULL,
  country varchar(50) NOT NULL,
  salesRepEmployeeNumber int(11) DEFAULT NULL,
  creditLimit decimal(10,2) DEFAULT NULL,
  PRIMARY KEY (customerNumber)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS orders (
  orderNumber int(11) NOT NULL,
  orderDate date NOT NULL,
  requiredDate date NOT NULL,
  shippedDate date DEFAULT NULL,
  status varchar(15) NOT NULL,
  comments text,
  customerNumber int(11) NOT NULL,
  PRIMARY KEY (orderNumber),
  KEY customerNumber (customerNumber),
  CONSTRAINT orders_ibfk_1 FOREIGN KEY (customerNumber) REFERENCES customers (customerNumber)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS orderdetails (
  orderNumber int(11) NOT NULL,
  productCode varchar(15) NOT NULL,
  quantityOrdered int(11) NOT NULL,
  priceEach decimal(10,2) NOT NULL,
  orderLineNumber smallint(6) NOT NULL,
  PRIMARY KEY (orderNumber, productCode),
  KEY productCode (productCode),
  CONSTRAINT orderdetails_ibfk_1 FOREIGN KEY (orderNumber) REFERENCES orders (orderNumber),
  CONSTRAINT orderdetails_ibfk_2 FOREIGN KEY (productCode) REFERENCES products (productCode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One rating per (customer, product). No foreign keys on purpose: ratings may arrive from
-- systems that do not enforce them, and the ETL counts and reports orphan ratings instead
-- of losing them silently. The secondary key serves per-product lookups.
CREATE TABLE IF NOT EXISTS ratings (
  customerNumber int(11) NOT NULL,
  productCode varchar(15) NOT NULL,
  productRating tinyint(4) NOT NULL,
  PRIMARY KEY (customerNumber, productCode),
  KEY ratings_productCode (productCode),
  CONSTRAINT ratings_rating_range CHECK (productRating BETWEEN 1 AND 5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
